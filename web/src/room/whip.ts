/**
 * Publishing from the browser over WHIP (RFC 9725): POST the SDP offer to
 * /whip/{stream} with the publish key as a bearer token; 201 Created
 * carries the SDP answer and, in Location, the session's resource, which
 * DELETE ends. Link headers may name ICE servers (section 4.6).
 *
 * parseWhipAnswer and parseIceServers are pure (unit-tested); WhipPublisher
 * drives an RTCPeerConnection (no trickle: the offer carries the
 * candidates gathered within a short wait).
 */

/** A refused or failed WHIP request: HTTP status (0: network), code, message. */
export class WhipError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'WhipError';
  }
}

export interface WhipAnswer {
  /** The SDP answer. */
  sdp: string;
  /** The session resource, absolute. */
  location: string;
  etag?: string;
  iceServers: RTCIceServer[];
}

interface HeaderGetter {
  get(name: string): string | null;
}

const STATUS_TEXT: Record<number, [string, string]> = {
  400: ['bad_request', 'the server could not use the offer'],
  401: ['unauthorized', 'the publish key was refused'],
  403: ['forbidden', 'the publish key was refused'],
  404: ['not_found', 'no WHIP endpoint for this stream'],
  406: ['not_acceptable', 'no codec in common with the server'],
  409: ['conflict', 'the stream is already being published'],
  415: ['unsupported_media_type', 'the server wants application/sdp'],
  422: ['unprocessable', 'the server could not use the offer'],
  429: ['rate_limited', 'too many attempts; wait and retry'],
  503: ['unavailable', 'the server cannot take a publisher now'],
};

/**
 * Reads the server's answer to the offer: the SDP and the resource's URL
 * (resolved against the request URL), or throws a WhipError saying why.
 */
export function parseWhipAnswer(status: number, headers: HeaderGetter, body: string, requestURL: string): WhipAnswer {
  if (status !== 201 && status !== 200) {
    let code = STATUS_TEXT[status]?.[0] ?? `http_${status}`;
    let message = STATUS_TEXT[status]?.[1] ?? `the server answered ${status}`;
    try {
      const e = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
      if (e.error && typeof e.error.code === 'string') code = e.error.code;
      if (e.error && typeof e.error.message === 'string') message = e.error.message;
    } catch {
      const t = body.trim();
      if (t && t.length < 300 && !t.startsWith('<')) message = t;
    }
    throw new WhipError(status, code, message);
  }
  const type = (headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type && type !== 'application/sdp') throw new WhipError(status, 'protocol_error', `the answer is ${type}, not application/sdp`);
  if (!body.startsWith('v=0')) throw new WhipError(status, 'protocol_error', 'the answer is not an SDP');
  const loc = headers.get('location');
  if (!loc) throw new WhipError(status, 'protocol_error', 'the answer has no Location (the session resource)');
  const out: WhipAnswer = { sdp: body, location: new URL(loc, requestURL).toString(), iceServers: parseIceServers(headers.get('link')) };
  const etag = headers.get('etag');
  if (etag) out.etag = etag;
  return out;
}

/**
 * ICE servers from Link headers (RFC 9725 section 4.6):
 * `<turn:turn.example.net?transport=udp>; rel="ice-server"; username="u"; credential="p"; credential-type="password"`,
 * several comma-separated.
 */
export function parseIceServers(link: string | null): RTCIceServer[] {
  if (!link) return [];
  const out: RTCIceServer[] = [];
  // Split on commas outside <> and quotes.
  const parts: string[] = [];
  let cur = '';
  let inURL = false;
  let inQ = false;
  for (const ch of link) {
    if (ch === '<' && !inQ) inURL = true;
    else if (ch === '>' && !inQ) inURL = false;
    else if (ch === '"' && !inURL) inQ = !inQ;
    if (ch === ',' && !inURL && !inQ) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  for (const p of parts) {
    const m = /^\s*<([^>]+)>(.*)$/.exec(p);
    if (!m) continue;
    const params = new Map<string, string>();
    for (const mm of m[2]!.matchAll(/;\s*([\w-]+)\s*=\s*(?:"([^"]*)"|([^\s;]*))/g)) params.set(mm[1]!.toLowerCase(), mm[2] ?? mm[3] ?? '');
    if (params.get('rel') !== 'ice-server') continue;
    const s: RTCIceServer = { urls: m[1]! };
    if (params.has('username')) s.username = params.get('username')!;
    if (params.has('credential')) s.credential = params.get('credential')!;
    out.push(s);
  }
  return out;
}

/** The WHIP endpoint of a stream. */
export function whipURL(baseURL: string, stream: string): string {
  return new URL(`/whip/${encodeURIComponent(stream)}`, baseURL).toString();
}

/** Puts H.264 (packetization-mode 1 first) and Opus ahead of the others, as the server prefers. */
export function preferCodecs<T extends { mimeType: string; sdpFmtpLine?: string }>(codecs: readonly T[], kind: 'video' | 'audio'): T[] {
  const score = (c: T): number => {
    const mt = c.mimeType.toLowerCase();
    if (kind === 'audio') return mt === 'audio/opus' ? 0 : 1;
    if (mt !== 'video/h264') return mt === 'video/vp8' ? 3 : 4;
    const fmtp = c.sdpFmtpLine ?? '';
    const pm1 = /packetization-mode=1/.test(fmtp);
    const baseline = /profile-level-id=42e0/i.test(fmtp);
    return pm1 ? (baseline ? 0 : 1) : 2;
  };
  return [...codecs].sort((a, b) => score(a) - score(b));
}

export interface PublishOptions {
  url: string;
  key: string;
  stream: MediaStream;
  /** Video bitrate cap, bit/s (0: none). */
  maxBitrate?: number;
  /** Wait at most this long for ICE candidates before sending the offer, ms. Default 1500. */
  gatherMs?: number;
  onState?: (state: string) => void;
  fetch?: typeof fetch;
}

/** One WHIP session: start(), then setMaxBitrate() and replaceTrack() while live, stop() to end. */
export class WhipPublisher {
  readonly pc: RTCPeerConnection;
  private resource: string | null = null;
  private readonly f: typeof fetch;

  constructor(private readonly o: PublishOptions) {
    this.f = o.fetch ?? fetch.bind(globalThis);
    this.pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    const report = () => o.onState?.(this.pc.connectionState);
    this.pc.addEventListener('connectionstatechange', report);
  }

  async start(): Promise<void> {
    const { pc, o } = this;
    for (const track of o.stream.getTracks()) {
      const t = pc.addTransceiver(track, { direction: 'sendonly', streams: [o.stream] });
      const kind = track.kind as 'video' | 'audio';
      const caps = typeof RTCRtpSender.getCapabilities === 'function' ? RTCRtpSender.getCapabilities(kind) : null;
      if (caps && typeof t.setCodecPreferences === 'function') {
        try {
          t.setCodecPreferences(preferCodecs(caps.codecs, kind));
        } catch {
          // keep the browser's order
        }
      }
    }
    await pc.setLocalDescription(await pc.createOffer());
    await this.gathered(o.gatherMs ?? 1500);
    let res: Response;
    try {
      res = await this.f(o.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${o.key}` },
        body: pc.localDescription!.sdp,
      });
    } catch (err) {
      throw new WhipError(0, 'network', `could not reach the server: ${(err as Error).message}`);
    }
    const answer = parseWhipAnswer(res.status, res.headers, await res.text(), o.url);
    this.resource = answer.location;
    if (answer.iceServers.length) pc.setConfiguration({ ...pc.getConfiguration(), iceServers: answer.iceServers });
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    if (o.maxBitrate) await this.setMaxBitrate(o.maxBitrate);
  }

  /** Caps the video sender's bitrate (bit/s; 0 lifts the cap). */
  async setMaxBitrate(bps: number): Promise<void> {
    for (const s of this.pc.getSenders()) {
      if (s.track?.kind !== 'video') continue;
      const p = s.getParameters();
      if (!p.encodings || p.encodings.length === 0) p.encodings = [{}];
      for (const e of p.encodings) {
        if (bps > 0) e.maxBitrate = bps;
        else delete e.maxBitrate;
      }
      await s.setParameters(p);
    }
  }

  /** Swaps the track of a kind (e.g. a new camera) without renegotiating. */
  async replaceTrack(track: MediaStreamTrack): Promise<void> {
    for (const s of this.pc.getSenders()) if (s.track?.kind === track.kind) await s.replaceTrack(track);
  }

  /** Ends the session: DELETE the resource, close the connection. */
  async stop(): Promise<void> {
    const r = this.resource;
    this.resource = null;
    this.pc.close();
    this.o.onState?.('closed');
    if (r) {
      try {
        await this.f(r, { method: 'DELETE', headers: { Authorization: `Bearer ${this.o.key}` } });
      } catch {
        // the server ends the session on ICE failure anyway
      }
    }
  }

  private gathered(ms: number): Promise<void> {
    const pc = this.pc;
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        pc.removeEventListener('icegatheringstatechange', check);
        resolve();
      };
      const check = () => {
        if (pc.iceGatheringState === 'complete') done();
      };
      const t = setTimeout(done, ms);
      pc.addEventListener('icegatheringstatechange', check);
    });
  }
}
