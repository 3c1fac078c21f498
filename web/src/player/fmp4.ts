/**
 * A small, pure reader for the parts of fragmented MP4 (ISO/IEC 14496-12) the
 * player needs: box headers, `prft` (ingest wall clock), `moof`/`traf`
 * (`tfhd`, `tfdt`, `trun`), `emsg` (in-band events) and, from an init segment,
 * each track's id and timescale (`moov/trak/tkhd`, `mdia/mdhd`). It never
 * copies media data and never throws on well-formed input; malformed input
 * raises Fmp4Error.
 *
 * 64-bit fields are returned as JavaScript numbers: exact up to 2^53, which
 * is 3 000 years of a 90 kHz clock.
 */

export class Fmp4Error extends Error {
  override name = 'Fmp4Error';
}

/** Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01). */
export const NTP_UNIX_OFFSET_SECONDS = 2_208_988_800;

export interface BoxHeader {
  /** Four-character code, e.g. "moof". */
  type: string;
  /** Offset of the box's first byte. */
  start: number;
  /** 8, or 16 with a 64-bit size. */
  headerSize: number;
  /** Offset just past the box. */
  end: number;
}

const u32 = (d: DataView, o: number): number => d.getUint32(o);
const u64 = (d: DataView, o: number): number => d.getUint32(o) * 0x1_0000_0000 + d.getUint32(o + 4);

function view(data: Uint8Array): DataView {
  return new DataView(data.buffer, data.byteOffset, data.byteLength);
}

function need(box: BoxHeader, at: number, n: number): void {
  if (at + n > box.end) throw new Fmp4Error(`${box.type}: truncated`);
}

function fourcc(data: Uint8Array, o: number): string {
  return String.fromCharCode(data[o]!, data[o + 1]!, data[o + 2]!, data[o + 3]!);
}

/**
 * Iterates the boxes laid end to end in data[start, end). A 64-bit size is
 * honoured; size 0 means "to the end".
 */
export function* boxes(data: Uint8Array, start = 0, end = data.length): Generator<BoxHeader> {
  const d = view(data);
  let o = start;
  while (o < end) {
    if (end - o < 8) throw new Fmp4Error(`truncated box header at ${o}`);
    let size = u32(d, o);
    const type = fourcc(data, o + 4);
    let headerSize = 8;
    if (size === 1) {
      if (end - o < 16) throw new Fmp4Error(`truncated large box header at ${o}`);
      size = u64(d, o + 8);
      headerSize = 16;
    } else if (size === 0) {
      size = end - o;
    }
    if (size < headerSize || o + size > end) throw new Fmp4Error(`${type}: bad size ${size} at ${o}`);
    yield { type, start: o, headerSize, end: o + size };
    o += size;
  }
}

/** Finds the first child box of the given type inside box (or undefined). */
export function child(data: Uint8Array, box: BoxHeader, type: string, skip = 0): BoxHeader | undefined {
  for (const b of boxes(data, box.start + box.headerSize + skip, box.end)) if (b.type === type) return b;
  return undefined;
}

/**
 * Converts a 64-bit NTP timestamp (seconds since 1900 and a 32-bit binary
 * fraction) to milliseconds since the Unix epoch.
 */
export function ntpToUnixMs(seconds: number, fraction: number): number {
  return (seconds - NTP_UNIX_OFFSET_SECONDS) * 1000 + (fraction / 0x1_0000_0000) * 1000;
}

/** Producer reference time box (14496-12 §8.16.5). */
export interface Prft {
  version: number;
  flags: number;
  referenceTrackId: number;
  /** The NTP timestamp as milliseconds since the Unix epoch. */
  wallClockMs: number;
  /** Media time in the reference track's timescale. */
  mediaTime: number;
}

/*
 * aligned(8) class ProducerReferenceTimeBox extends FullBox('prft', version, flags) {
 *   unsigned int(32) reference_track_ID;
 *   unsigned int(64) ntp_timestamp;
 *   if (version==0) unsigned int(32) media_time; else unsigned int(64) media_time;
 * }
 */
export function parsePrft(data: Uint8Array, box: BoxHeader): Prft {
  const d = view(data);
  let o = box.start + box.headerSize;
  need(box, o, 4);
  const version = data[o]!;
  const flags = u32(d, o) & 0xffffff;
  o += 4;
  need(box, o, version === 0 ? 16 : 20);
  const referenceTrackId = u32(d, o);
  const wallClockMs = ntpToUnixMs(u32(d, o + 4), u32(d, o + 8));
  const mediaTime = version === 0 ? u32(d, o + 12) : u64(d, o + 12);
  return { version, flags, referenceTrackId, wallClockMs, mediaTime };
}

/**
 * The presentation time (reference track timescale) that a prft maps to its
 * wall clock. A version 1 prft carries it whole; a version 0 prft carries its
 * low 32 bits, which are unwrapped to the value nearest the following
 * fragment's decode time when that is known.
 */
export function prftMediaTime(prft: Prft, decodeTime?: number): number {
  if (prft.version !== 0 || decodeTime === undefined) return prft.mediaTime;
  const wrap = 0x1_0000_0000;
  let delta = (prft.mediaTime - (decodeTime % wrap)) % wrap;
  if (delta >= wrap / 2) delta -= wrap;
  if (delta < -wrap / 2) delta += wrap;
  return Math.max(0, decodeTime + delta);
}

/** What the player needs from one track fragment (`traf`). */
export interface TrackFragment {
  trackId: number;
  /** tfdt baseMediaDecodeTime, in the track's timescale (undefined without tfdt). */
  baseMediaDecodeTime: number | undefined;
  /** Samples in all truns. */
  sampleCount: number;
  /** Sum of sample durations, in the track's timescale, if every duration is known. */
  duration: number | undefined;
  /** Whether the first sample is a sync sample (keyframe), if known. */
  firstSampleSync: boolean | undefined;
}

const isSync = (sampleFlags: number): boolean => ((sampleFlags >>> 16) & 1) === 0;

function parseTraf(data: Uint8Array, traf: BoxHeader): TrackFragment {
  const d = view(data);
  const frag: TrackFragment = {
    trackId: 0,
    baseMediaDecodeTime: undefined,
    sampleCount: 0,
    duration: 0,
    firstSampleSync: undefined,
  };
  let defaultDuration: number | undefined;
  let defaultFlags: number | undefined;
  let first = true;
  for (const b of boxes(data, traf.start + traf.headerSize, traf.end)) {
    const p = b.start + b.headerSize;
    if (b.type === 'tfhd') {
      need(b, p, 8);
      const flags = u32(d, p) & 0xffffff;
      frag.trackId = u32(d, p + 4);
      let o = p + 8;
      if (flags & 0x1) o += 8; // base_data_offset
      if (flags & 0x2) o += 4; // sample_description_index
      if (flags & 0x8) {
        need(b, o, 4);
        defaultDuration = u32(d, o);
        o += 4;
      }
      if (flags & 0x10) o += 4; // default_sample_size
      if (flags & 0x20) {
        need(b, o, 4);
        defaultFlags = u32(d, o);
      }
    } else if (b.type === 'tfdt') {
      need(b, p, 8);
      const version = data[p]!;
      if (version === 1) need(b, p, 12);
      frag.baseMediaDecodeTime = version === 1 ? u64(d, p + 4) : u32(d, p + 4);
    } else if (b.type === 'trun') {
      need(b, p, 8);
      const flags = u32(d, p) & 0xffffff;
      const count = u32(d, p + 4);
      let o = p + 8;
      if (flags & 0x1) o += 4; // data_offset
      let firstFlags: number | undefined;
      if (flags & 0x4) {
        need(b, o, 4);
        firstFlags = u32(d, o);
        o += 4;
      }
      const perSample =
        (flags & 0x100 ? 4 : 0) + (flags & 0x200 ? 4 : 0) + (flags & 0x400 ? 4 : 0) + (flags & 0x800 ? 4 : 0);
      need(b, o, perSample * count);
      for (let i = 0; i < count; i++) {
        let dur = defaultDuration;
        let sflags = i === 0 && firstFlags !== undefined ? firstFlags : defaultFlags;
        if (flags & 0x100) {
          dur = u32(d, o);
          o += 4;
        }
        if (flags & 0x200) o += 4;
        if (flags & 0x400) {
          const f = u32(d, o);
          if (!(i === 0 && firstFlags !== undefined)) sflags = f;
          o += 4;
        }
        if (flags & 0x800) o += 4;
        if (first) {
          frag.firstSampleSync = sflags === undefined ? undefined : isSync(sflags);
          first = false;
        }
        frag.duration = frag.duration === undefined || dur === undefined ? undefined : frag.duration + dur;
      }
      frag.sampleCount += count;
    }
  }
  if (frag.sampleCount === 0) frag.duration = undefined;
  return frag;
}

/** Parses the track fragments of a `moof` box. */
export function parseMoof(data: Uint8Array, moof: BoxHeader): TrackFragment[] {
  const out: TrackFragment[] = [];
  for (const b of boxes(data, moof.start + moof.headerSize, moof.end)) {
    if (b.type === 'traf') out.push(parseTraf(data, b));
  }
  return out;
}

/** Event message box (ISO/IEC 23009-1 §5.10.3.3), versions 0 and 1. */
export interface Emsg {
  version: number;
  schemeIdUri: string;
  value: string;
  timescale: number;
  /** Version 1: absolute presentation time (timescale units). */
  presentationTime: number | undefined;
  /** Version 0: delta from the following segment's earliest presentation time. */
  presentationTimeDelta: number | undefined;
  eventDuration: number;
  id: number;
  messageData: Uint8Array;
}

const utf8 = new TextDecoder();

function cstring(data: Uint8Array, box: BoxHeader, o: number): [string, number] {
  let e = o;
  while (e < box.end && data[e] !== 0) e++;
  if (e >= box.end) throw new Fmp4Error('emsg: unterminated string');
  const s = utf8.decode(data.subarray(o, e));
  return [s, e + 1];
}

export function parseEmsg(data: Uint8Array, box: BoxHeader): Emsg {
  const d = view(data);
  let o = box.start + box.headerSize;
  need(box, o, 4);
  const version = data[o]!;
  o += 4;
  let schemeIdUri = '';
  let value = '';
  let timescale: number;
  let presentationTime: number | undefined;
  let presentationTimeDelta: number | undefined;
  let eventDuration: number;
  let id: number;
  if (version === 0) {
    [schemeIdUri, o] = cstring(data, box, o);
    [value, o] = cstring(data, box, o);
    need(box, o, 16);
    timescale = u32(d, o);
    presentationTimeDelta = u32(d, o + 4);
    eventDuration = u32(d, o + 8);
    id = u32(d, o + 12);
    o += 16;
  } else if (version === 1) {
    need(box, o, 24);
    timescale = u32(d, o);
    presentationTime = u64(d, o + 4);
    eventDuration = u32(d, o + 12);
    id = u32(d, o + 16);
    o += 20;
    [schemeIdUri, o] = cstring(data, box, o);
    [value, o] = cstring(data, box, o);
  } else {
    throw new Fmp4Error(`emsg: unknown version ${version}`);
  }
  return {
    version,
    schemeIdUri,
    value,
    timescale,
    presentationTime,
    presentationTimeDelta,
    eventDuration,
    id,
    messageData: data.subarray(o, box.end),
  };
}

/** A `prft` and the fragments of the `moof` that follows it (if any). */
export interface PrftFragment {
  prft: Prft;
  fragments: TrackFragment[] | undefined;
}

/** What one binary message holds, in order of appearance. */
export interface SegmentScan {
  /** True when the data holds an `ftyp` or `moov` (an init segment). */
  hasInit: boolean;
  /** Every moof's track fragments, in order. */
  fragments: TrackFragment[];
  prfts: PrftFragment[];
  emsgs: { emsg: Emsg; fragments: TrackFragment[] | undefined }[];
}

/**
 * Scans the top-level boxes of a binary message: whole fragments
 * (`[prft] [emsg] moof mdat`) or an init segment.
 */
export function scanSegment(data: Uint8Array): SegmentScan {
  const scan: SegmentScan = { hasInit: false, fragments: [], prfts: [], emsgs: [] };
  let pendingPrft: PrftFragment[] = [];
  let pendingEmsg: { emsg: Emsg; fragments: TrackFragment[] | undefined }[] = [];
  for (const b of boxes(data)) {
    switch (b.type) {
      case 'ftyp':
      case 'moov':
        scan.hasInit = true;
        break;
      case 'prft': {
        const p: PrftFragment = { prft: parsePrft(data, b), fragments: undefined };
        scan.prfts.push(p);
        pendingPrft.push(p);
        break;
      }
      case 'emsg': {
        const e = { emsg: parseEmsg(data, b), fragments: undefined };
        scan.emsgs.push(e);
        pendingEmsg.push(e);
        break;
      }
      case 'moof': {
        const frags = parseMoof(data, b);
        scan.fragments.push(...frags);
        for (const p of pendingPrft) p.fragments = frags;
        for (const e of pendingEmsg) e.fragments = frags;
        pendingPrft = [];
        pendingEmsg = [];
        break;
      }
    }
  }
  return scan;
}

/** A track as an init segment declares it. */
export interface InitTrack {
  trackId: number;
  timescale: number;
  handler: string;
}

/** Reads track ids, timescales and handler types from an init segment's moov. */
export function parseInitTracks(data: Uint8Array): InitTrack[] {
  const d = view(data);
  const out: InitTrack[] = [];
  for (const top of boxes(data)) {
    if (top.type !== 'moov') continue;
    for (const trak of boxes(data, top.start + top.headerSize, top.end)) {
      if (trak.type !== 'trak') continue;
      const t: InitTrack = { trackId: 0, timescale: 0, handler: '' };
      const tkhd = child(data, trak, 'tkhd');
      if (tkhd) {
        const p = tkhd.start + tkhd.headerSize;
        const v = data[p];
        const at = p + 4 + (v === 1 ? 16 : 8);
        need(tkhd, at, 4);
        t.trackId = u32(d, at);
      }
      const mdia = child(data, trak, 'mdia');
      if (mdia) {
        const mdhd = child(data, mdia, 'mdhd');
        if (mdhd) {
          const p = mdhd.start + mdhd.headerSize;
          const v = data[p];
          const at = p + 4 + (v === 1 ? 16 : 8);
          need(mdhd, at, 4);
          t.timescale = u32(d, at);
        }
        const hdlr = child(data, mdia, 'hdlr');
        if (hdlr) {
          const at = hdlr.start + hdlr.headerSize + 8;
          need(hdlr, at, 4);
          t.handler = fourcc(data, at);
        }
      }
      out.push(t);
    }
  }
  return out;
}
