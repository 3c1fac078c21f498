// Helpers that build ISO BMFF boxes for the tests.
export function u8(...xs: number[]): Uint8Array {
  return Uint8Array.from(xs);
}
export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}
export function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, Math.floor(n / 0x1_0000_0000));
  dv.setUint32(4, n % 0x1_0000_0000);
  return b;
}
export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
export function str(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
export function box(type: string, ...payload: Uint8Array[]): Uint8Array {
  const body = cat(...payload);
  return cat(u32(8 + body.length), str(type), body);
}
export function fullbox(type: string, version: number, flags: number, ...payload: Uint8Array[]): Uint8Array {
  return box(type, u32(((version & 0xff) << 24) | (flags & 0xffffff)), ...payload);
}
/** NTP 64-bit timestamp for ms since the Unix epoch. */
export function ntp(unixMs: number): Uint8Array {
  const secs = Math.floor(unixMs / 1000);
  const frac = Math.round(((unixMs - secs * 1000) / 1000) * 0x1_0000_0000);
  return cat(u32(secs + 2_208_988_800), u32(frac));
}
export function prft(trackId: number, unixMs: number, mediaTime: number, version = 1): Uint8Array {
  return fullbox('prft', version, 0, u32(trackId), ntp(unixMs), version === 1 ? u64(mediaTime) : u32(mediaTime));
}
/** A moof with one traf: tfhd (default-base-is-moof), tfdt v1, trun with per-sample durations and first-sample flags. */
export function moof(trackId: number, tfdt: number, durations: number[], keyframe = true, seq = 1): Uint8Array {
  const trunBody = [u32(durations.length), u32(0), u32(keyframe ? 0x02000000 : 0x01010000), ...durations.map(u32)];
  return box(
    'moof',
    fullbox('mfhd', 0, 0, u32(seq)),
    box(
      'traf',
      fullbox('tfhd', 0, 0x020000, u32(trackId)),
      fullbox('tfdt', 1, 0, u64(tfdt)),
      fullbox('trun', 0, 0x1 | 0x4 | 0x100, ...trunBody),
    ),
  );
}
export function mdat(n = 4): Uint8Array {
  return box('mdat', new Uint8Array(n));
}
/** A minimal init segment with the given (trackId, timescale, handler) tracks. */
export function init(tracks: [number, number, string][]): Uint8Array {
  const trak = ([id, ts, hdlr]: [number, number, string]) =>
    box(
      'trak',
      fullbox('tkhd', 0, 3, u32(0), u32(0), u32(id), u32(0), u32(0), new Uint8Array(60)),
      box(
        'mdia',
        fullbox('mdhd', 0, 0, u32(0), u32(0), u32(ts), u32(0), u32(0)),
        fullbox('hdlr', 0, 0, u32(0), str(hdlr), new Uint8Array(12), u8(0)),
      ),
    );
  return cat(box('ftyp', str('isom'), u32(0x200), str('isomiso6')), box('moov', fullbox('mvhd', 0, 0, new Uint8Array(96)), ...tracks.map(trak)));
}
