/**
 * A development stand-in for the Go server: serves web/dist like the real
 * server does (/, /watch/{stream}, /assets/...) and speaks the WebSocket
 * playback protocol at /ws/{stream}, with a live test stream that ffmpeg
 * encodes for each connection (so every connection starts at a keyframe with
 * decode time 0, which also exercises the player's timeline handling across
 * reconnects). Streams named `missing...` answer not_found; `flaky...`
 * drops the connection every 8 s. For local development and manual testing
 * only: `npm run build && npm run dev`, then open http://127.0.0.1:8090/watch/demo.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseInitTracks, scanSegment } from '../src/player/fmp4.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const port = Number(process.env['PORT'] ?? 8090);
const host = process.env['HOST'] ?? '127.0.0.1';
const size = process.env['SIZE'] ?? '1280x720';
const sizeWH = size.split('x').map(Number);

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

const server = createServer(async (req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  let file: string | undefined;
  if (path === '/') file = 'index.html';
  else if (path.startsWith('/watch/')) file = 'watch.html';
  else if (path.startsWith('/assets/')) file = normalize(path.slice('/assets/'.length)).replace(/^(\.\.[/\\])+/, '');
  if (!file) {
    res.writeHead(404).end('not found');
    return;
  }
  try {
    const body = await readFile(join(dist, file));
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(body);
  } catch {
    res.writeHead(404).end('not found');
  }
});

// --- a minimal WebSocket server (RFC 6455): enough for this protocol -------

class Conn {
  private buf = Buffer.alloc(0);
  closed = false;
  constructor(
    private readonly sock: Duplex,
    private readonly onText: (s: string) => void,
    private readonly onClose: () => void,
  ) {
    sock.on('data', (d: Buffer) => this.read(d));
    sock.on('close', () => this.finish());
    sock.on('error', () => this.finish());
  }
  sendText(o: unknown): void {
    this.frame(1, Buffer.from(JSON.stringify(o)));
  }
  sendBinary(b: Uint8Array): void {
    this.frame(2, Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  close(code = 1000): void {
    if (this.closed) return;
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code);
    this.frame(8, p);
    this.sock.end();
    this.finish();
  }
  private frame(op: number, payload: Buffer): void {
    if (this.closed) return;
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x80 | op, n]) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    if (n >= 126 && n < 65536) {
      head[0] = 0x80 | op;
      head[1] = 126;
      head.writeUInt16BE(n, 2);
    } else if (n >= 65536) {
      head[0] = 0x80 | op;
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(n), 2);
    }
    this.sock.write(Buffer.concat([head, payload]));
  }
  private read(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.length < 2) return;
      const op = this.buf[0]! & 0x0f;
      let len = this.buf[1]! & 0x7f;
      let o = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        o = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        o = 10;
      }
      const masked = (this.buf[1]! & 0x80) !== 0;
      const mask = masked ? this.buf.subarray(o, o + 4) : undefined;
      if (masked) o += 4;
      if (this.buf.length < o + len) return;
      const payload = Buffer.from(this.buf.subarray(o, o + len));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
      this.buf = this.buf.subarray(o + len);
      if (op === 1) this.onText(payload.toString('utf8'));
      else if (op === 8) this.close(1000);
      else if (op === 9) this.frame(10, payload);
    }
  }
  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }
}

function codecString(init: Uint8Array): string {
  const i = Buffer.from(init).indexOf('avcC');
  if (i < 0) return 'avc1.42c01f';
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `avc1.${hex(init[i + 5]!)}${hex(init[i + 6]!)}${hex(init[i + 7]!)}`;
}

function serveStream(req: IncomingMessage, sock: Duplex, stream: string): void {
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string') {
    sock.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    return;
  }
  const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  let ff: ChildProcess | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const conn = new Conn(
    sock,
    (text) => {
      try {
        const m = JSON.parse(text) as { type?: string; clientTime?: number };
        if (m.type === 'ping') conn.sendText({ type: 'pong', clientTime: m.clientTime, serverTime: Date.now() });
      } catch {
        /* ignore */
      }
    },
    () => {
      ff?.kill('SIGKILL');
      if (timer) clearTimeout(timer);
    },
  );
  conn.sendText({ type: 'hello', version: 1, stream, serverTime: Date.now() });
  if (stream.startsWith('missing')) {
    conn.sendText({ type: 'error', code: 'not_found', message: `stream "${stream}" is not live` });
    conn.close(1000);
    return;
  }
  if (stream.startsWith('flaky')) timer = setTimeout(() => conn.close(1001), 8000);
  ff = spawn(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=30`,
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-g', '30', '-pix_fmt', 'yuv420p', '-b:v', '1500k',
      '-c:a', 'aac', '-b:a', '96k', '-ac', '2',
      '-f', 'mp4', '-movflags', 'empty_moov+default_base_moof+frag_every_frame+skip_trailer', '-write_prft', 'wallclock', '-'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let pending = Buffer.alloc(0);
  let init: Buffer[] = [];
  let frag: Buffer[] = [];
  let sentInit = false;
  const timescales = new Map<number, number>();
  let videoTrack = 0;
  let nextCue = 1;
  let cueN = 0;
  ff.stdout!.on('data', (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    for (;;) {
      if (pending.length < 8) return;
      const size = pending.readUInt32BE(0);
      if (size < 8 || pending.length < size) return;
      const box = pending.subarray(0, size);
      pending = pending.subarray(size);
      const type = box.toString('latin1', 4, 8);
      if (type === 'ftyp' || type === 'moov') {
        init.push(box);
        if (type === 'moov' && !sentInit) {
          const seg = Buffer.concat(init);
          init = [];
          const tracks = parseInitTracks(seg);
          for (const t of tracks) timescales.set(t.trackId, t.timescale);
          videoTrack = tracks.find((t) => t.handler === 'vide')?.trackId ?? 0;
          const video = codecString(seg);
          const [w, h] = sizeWH;
          conn.sendText({ type: 'status', state: 'live' });
          conn.sendText({
            type: 'init',
            mime: `video/mp4; codecs="${video},mp4a.40.2"`,
            tracks: tracks.map((t) =>
              t.handler === 'vide'
                ? { id: t.trackId, kind: 'video', codec: video, timescale: t.timescale, width: w, height: h }
                : { id: t.trackId, kind: 'audio', codec: 'mp4a.40.2', timescale: t.timescale, sampleRate: 48000, channels: 2 },
            ),
          });
          conn.sendBinary(seg);
          sentInit = true;
        }
      } else {
        frag.push(box);
        if (type === 'mdat') {
          const msg = Buffer.concat(frag);
          frag = [];
          conn.sendBinary(msg);
          // Every 2 s of video, a cue stamped with that frame's media time.
          for (const f of scanSegment(msg).fragments) {
            const ts = timescales.get(f.trackId);
            if (!ts || f.trackId !== videoTrack || f.baseMediaDecodeTime === undefined) continue;
            const t = f.baseMediaDecodeTime / ts;
            if (t >= nextCue) {
              cueN++;
              conn.sendText({ type: 'cue', cue: { id: `tick-${Date.now()}-${cueN}`, mediaTime: t, type: 'tick', payload: { n: cueN } } });
              nextCue = t + 2;
            }
          }
        }
      }
    }
  });
  ff.on('exit', () => conn.close(1000));
}

server.on('upgrade', (req, sock) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const m = /^\/ws\/([^/]+)$/.exec(path);
  if (!m) {
    sock.end('HTTP/1.1 404 Not Found\r\n\r\n');
    return;
  }
  serveStream(req, sock, decodeURIComponent(m[1]!));
});

server.listen(port, host, () => console.log(`liveloop web dev server: http://${host}:${port}/watch/demo`));
