/**
 * Liveloop's real-time web player: `new Player(video, {stream}).play()`.
 * Transports: WebRTC (WHEP), fMP4 over WebSocket, LL-HLS; `auto` by default.
 * See web/README.md for the API and docs/ws-protocol.md for the wire protocol.
 */
export { Player } from './player.js';
export type { PlayerError, PlayerEvents, PlayerOptions, PlayerState, PlayerStats } from './player.js';
export type { Cue } from './cues.js';
export type { Transport, TransportKind, TransportListener, CloseInfo } from './transport.js';
export type { LiveEdgeOptions } from './live-edge.js';
export type { BackoffOptions } from './backoff.js';
export type { ElementTransport, ElementTransportListener, FrameMetadata } from './transport.js';
export type { TransportChoice } from './auto.js';
export { WsTransport, wsURL } from './ws-transport.js';
export { WebRtcTransport } from './webrtc-transport.js';
export { HlsTransport, hlsURL } from './hls-transport.js';
export { whepURL } from './whep.js';
