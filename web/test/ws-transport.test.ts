import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WsTransport, wsURL } from '../src/player/ws-transport.js';
import type { CloseInfo, TransportListener } from '../src/player/transport.js';

/** A WebSocket stand-in the test drives by hand. */
class FakeWS {
  static last: FakeWS | undefined;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readyState = 0;
  binaryType = '';
  sent: string[] = [];
  closedWith: [number, string] | undefined;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  constructor(readonly url: string) {
    FakeWS.last = this;
  }
  send(s: string) {
    this.sent.push(s);
  }
  close(code: number, reason: string) {
    this.closedWith = [code, reason];
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  text(o: unknown) {
    this.onmessage?.({ data: JSON.stringify(o) });
  }
  binary(...bytes: number[]) {
    this.onmessage?.({ data: Uint8Array.from(bytes).buffer });
  }
  serverClose(code: number, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

function recorder() {
  const log: unknown[][] = [];
  const l: TransportListener = {
    onOpen: () => log.push(['open']),
    onHello: (s, t) => log.push(['hello', s, t]),
    onInit: (i, seg) => log.push(['init', i.mime, [...seg]]),
    onMedia: (d) => log.push(['media', [...d]]),
    onStatus: (s) => log.push(['status', s]),
    onPong: (c, s) => log.push(['pong', c, s]),
    onCue: (c) => log.push(['cue', c.id]),
    onClose: (i: CloseInfo) => log.push(['close', i.code, i.serverError?.code]),
  };
  return { log, l };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('wsURL', () => {
  assert.equal(wsURL('http://localhost:8080', 'demo'), 'ws://localhost:8080/ws/demo');
  assert.equal(wsURL('https://example.org/base/', 'a b/c'), 'wss://example.org/base/ws/a%20b%2Fc');
  assert.equal(wsURL('ws://h', 'x', { rendition: 'source' }), 'ws://h/ws/x?rendition=source');
});

test('WsTransport: hello, init + init segment, media, status, pong, cue, server error then close', async () => {
  const { log, l } = recorder();
  let clock = 1000;
  const t = new WsTransport(
    { url: 'ws://h/ws/demo', burstPings: 3, burstSpacingMs: 1, pingIntervalMs: 60_000, now: () => clock++, WebSocket: FakeWS as unknown as typeof WebSocket },
    l,
  );
  t.connect();
  const ws = FakeWS.last!;
  assert.equal(ws.url, 'ws://h/ws/demo');
  assert.equal(ws.binaryType, 'arraybuffer');
  ws.open();
  await sleep(20);
  assert.equal(ws.sent.length, 3, 'a burst of pings');
  assert.equal(JSON.parse(ws.sent[0]!).type, 'ping');
  ws.text({ type: 'hello', version: 1, stream: 'demo', serverTime: 5 });
  ws.text({ type: 'init', mime: 'video/mp4', tracks: [] });
  ws.binary(1, 2);
  ws.binary(3);
  ws.text({ type: 'status', state: 'live' });
  ws.text({ type: 'pong', clientTime: 1, serverTime: 9 });
  ws.text({ type: 'cue', cue: { id: 'c', mediaTime: 1, type: 'x' } });
  ws.text({ type: 'something-new' });
  ws.text({ type: 'error', code: 'server_shutdown', message: 'bye' });
  ws.serverClose(1001);
  assert.deepEqual(log, [
    ['open'],
    ['hello', 'demo', 5],
    ['init', 'video/mp4', [1, 2]],
    ['media', [3]],
    ['status', 'live'],
    ['pong', 1, 9],
    ['cue', 'c'],
    ['close', 1001, 'server_shutdown'],
  ]);
  t.close(); // no second onClose
  assert.equal(log.length, 8);
});

test('WsTransport: a malformed message or another protocol version closes with protocol_error', () => {
  for (const bad of ['{"type":"hello","version":2,"stream":"d","serverTime":1}', '{"type":"status"}']) {
    const { log, l } = recorder();
    const t = new WsTransport({ url: 'ws://h/ws/d', burstPings: 0, WebSocket: FakeWS as unknown as typeof WebSocket }, l);
    t.connect();
    const ws = FakeWS.last!;
    ws.open();
    ws.onmessage?.({ data: bad });
    assert.deepEqual(log.at(-1), ['close', 4000, 'protocol_error']);
    assert.equal(ws.closedWith?.[0], 4000);
    t.close();
  }
});

test('WsTransport: close() reports once and stops pinging', async () => {
  const { log, l } = recorder();
  const t = new WsTransport({ url: 'ws://h/ws/d', burstPings: 1, burstSpacingMs: 1, pingIntervalMs: 5, WebSocket: FakeWS as unknown as typeof WebSocket }, l);
  t.connect();
  const ws = FakeWS.last!;
  ws.open();
  t.close();
  const n = ws.sent.length;
  await sleep(30);
  assert.equal(ws.sent.length, n);
  assert.deepEqual(log, [['open'], ['close', 1000, undefined]]);
  assert.deepEqual(ws.closedWith, [1000, 'client closed']);
});
