/**
 * MseSink feeds fMP4 into one SourceBuffer of a MediaSource attached to a
 * <video>. Operations (init, append, timestampOffset, remove) go through one
 * queue, processed only while the SourceBuffer is not updating; consecutive
 * appends are coalesced into one appendBuffer call. The back buffer is trimmed
 * so memory stays bounded, and a QuotaExceededError frees the back buffer and
 * retries before giving up.
 *
 * Life cycle: new MseSink(video, listener) → open() → init()/append()... →
 * destroy(). Uses ManagedMediaSource where MediaSource is missing (iOS).
 */
import { toRanges, type Range } from './timeline.js';

export interface MseSinkOptions {
  /** Seconds of media kept behind currentTime. Default 20. */
  backBuffer?: number;
  /** Trim only when this much more than backBuffer has piled up, seconds. Default 10. */
  trimSlack?: number;
  /** Largest coalesced append, bytes. Default 4 MiB. */
  maxAppendBytes?: number;
}

export interface MseSinkListener {
  /** Something went wrong; fatal errors need a new MseSink. */
  onError(err: Error, fatal: boolean): void;
  /** An append, remove or offset change finished (a good time to look at buffered). */
  onUpdate?(): void;
}

type Op =
  | { kind: 'init'; mime: string }
  | { kind: 'append'; data: Uint8Array }
  | { kind: 'offset'; value: number }
  | { kind: 'remove'; start: number; end: number };

interface MediaSourceCtor {
  new (): MediaSource;
  isTypeSupported(type: string): boolean;
}

/** The MediaSource constructor of this browser, if it has one. */
export function mediaSourceCtor(): MediaSourceCtor | undefined {
  const g = globalThis as unknown as { MediaSource?: MediaSourceCtor; ManagedMediaSource?: MediaSourceCtor };
  return g.MediaSource ?? g.ManagedMediaSource;
}

export class MseSinkError extends Error {
  override name = 'MseSinkError';
}

export class MseSink {
  private readonly video: HTMLVideoElement;
  private readonly listener: MseSinkListener;
  private readonly backBuffer: number;
  private readonly trimSlack: number;
  private readonly maxAppendBytes: number;
  private ms: MediaSource | undefined;
  private sb: SourceBuffer | undefined;
  private url: string | undefined;
  private opened = false;
  private destroyed = false;
  private queue: Op[] = [];
  private mime: string | undefined;
  private offset = 0;
  private quotaRetries = 0;

  constructor(video: HTMLVideoElement, listener: MseSinkListener, opts: MseSinkOptions = {}) {
    this.video = video;
    this.listener = listener;
    this.backBuffer = opts.backBuffer ?? 20;
    this.trimSlack = opts.trimSlack ?? 10;
    this.maxAppendBytes = opts.maxAppendBytes ?? 4 << 20;
  }

  /** Creates the MediaSource and attaches it to the video. */
  open(): void {
    const Ctor = mediaSourceCtor();
    if (!Ctor) throw new MseSinkError('Media Source Extensions are not supported');
    const ms = new Ctor();
    this.ms = ms;
    if (!('MediaSource' in globalThis)) this.video.disableRemotePlayback = true; // required by ManagedMediaSource
    ms.addEventListener('sourceopen', this.onSourceOpen, { once: true });
    this.url = URL.createObjectURL(ms);
    // A MediaStream (the WebRTC transport's) takes precedence over src:
    // detach it, or the MediaSource would never open.
    if (this.video.srcObject) this.video.srcObject = null;
    this.video.src = this.url;
  }

  /** The SourceBuffer's current timestamp offset (as queued). */
  get timestampOffset(): number {
    return this.offset;
  }

  /** The mime type of the SourceBuffer (as queued). */
  get mimeType(): string | undefined {
    return this.mime;
  }

  /** Bytes waiting to be appended. */
  get queuedBytes(): number {
    let n = 0;
    for (const op of this.queue) if (op.kind === 'append') n += op.data.byteLength;
    return n;
  }

  /** The SourceBuffer's buffered ranges (video.buffered before it exists). */
  buffered(): Range[] {
    try {
      return toRanges(this.sb ? this.sb.buffered : this.video.buffered);
    } catch {
      return []; // the SourceBuffer was removed from its MediaSource
    }
  }

  /**
   * Announces tracks: creates the SourceBuffer for mime, or calls
   * changeType when mime differs from the current one, then appends the
   * init segment.
   */
  init(mime: string, initSegment: Uint8Array): void {
    const Ctor = mediaSourceCtor();
    if (Ctor && !Ctor.isTypeSupported(mime)) {
      this.fatal(new MseSinkError(`unsupported media type: ${mime}`));
      return;
    }
    this.push({ kind: 'init', mime });
    this.mime = mime;
    this.push({ kind: 'append', data: initSegment });
  }

  /** Queues media (whole fragments). */
  append(data: Uint8Array): void {
    this.push({ kind: 'append', data });
  }

  /** Queues a change of SourceBuffer.timestampOffset (applies to later appends). */
  setTimestampOffset(value: number): void {
    if (value === this.offset) return;
    this.offset = value;
    this.push({ kind: 'offset', value });
  }

  /** Removes media older than backBuffer seconds behind currentTime, with hysteresis. */
  trim(currentTime: number): void {
    const ranges = this.buffered();
    const first = ranges[0];
    if (!first || this.queue.some((op) => op.kind === 'remove')) return;
    const keepFrom = currentTime - this.backBuffer;
    if (first[0] < keepFrom - this.trimSlack) this.push({ kind: 'remove', start: 0, end: keepFrom });
  }

  /** Detaches from the video and frees everything. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.queue = [];
    this.ms?.removeEventListener('sourceopen', this.onSourceOpen);
    if (this.sb) {
      this.sb.removeEventListener('updateend', this.onUpdateEnd);
      this.sb.removeEventListener('error', this.onSbError);
    }
    if (this.url) URL.revokeObjectURL(this.url);
    this.video.removeAttribute('src');
    try {
      this.video.load();
    } catch {
      /* ignore */
    }
    this.sb = undefined;
    this.ms = undefined;
  }

  private readonly onSourceOpen = (): void => {
    if (this.destroyed) return;
    this.opened = true;
    if (this.url) {
      URL.revokeObjectURL(this.url);
      this.url = undefined;
    }
    this.process();
  };

  private readonly onUpdateEnd = (): void => {
    this.process();
    this.listener.onUpdate?.();
  };

  private readonly onSbError = (): void => {
    this.fatal(new MseSinkError('SourceBuffer error (the media could not be decoded)'));
  };

  private push(op: Op): void {
    if (this.destroyed) return;
    this.queue.push(op);
    this.process();
  }

  private fatal(err: Error): void {
    if (this.destroyed) return;
    this.queue = [];
    this.listener.onError(err, true);
  }

  private process(): void {
    const ms = this.ms;
    if (!this.opened || this.destroyed || !ms) return;
    while (this.queue.length > 0) {
      if (this.sb?.updating) return;
      if (ms.readyState !== 'open') {
        this.fatal(new MseSinkError(`MediaSource is ${ms.readyState}`));
        return;
      }
      const op = this.queue[0]!;
      try {
        switch (op.kind) {
          case 'init':
            this.queue.shift();
            this.applyInit(ms, op.mime);
            continue;
          case 'offset':
            this.queue.shift();
            if (this.sb) this.sb.timestampOffset = op.value;
            continue;
          case 'remove': {
            this.queue.shift();
            const end = Math.min(op.end, this.bufferedEnd());
            if (!this.sb || end <= op.start) continue;
            this.sb.remove(op.start, end);
            return;
          }
          case 'append': {
            if (!this.sb) {
              this.fatal(new MseSinkError('media before init'));
              return;
            }
            const data = this.coalesce();
            try {
              this.sb.appendBuffer(data as Uint8Array<ArrayBuffer>);
              this.quotaRetries = 0;
            } catch (err) {
              if (err instanceof DOMException && err.name === 'QuotaExceededError') {
                this.queue.unshift({ kind: 'append', data });
                this.onQuota();
                if (this.sb.updating) return;
                continue;
              }
              throw err;
            }
            return;
          }
        }
      } catch (err) {
        this.fatal(err instanceof Error ? err : new MseSinkError(String(err)));
        return;
      }
    }
  }

  private applyInit(ms: MediaSource, mime: string): void {
    if (!this.sb) {
      const sb = ms.addSourceBuffer(mime);
      sb.mode = 'segments';
      sb.addEventListener('updateend', this.onUpdateEnd);
      sb.addEventListener('error', this.onSbError);
      this.sb = sb;
      if (this.offset !== 0) sb.timestampOffset = this.offset;
      this.sbMime = mime;
      return;
    }
    if (mime !== this.sbMime) {
      if (typeof this.sb.changeType !== 'function') throw new MseSinkError('SourceBuffer.changeType is not supported');
      this.sb.changeType(mime);
      this.sbMime = mime;
    }
  }

  private sbMime: string | undefined;

  /** Takes the leading run of appends (up to maxAppendBytes) off the queue as one buffer. */
  private coalesce(): Uint8Array {
    let n = 0;
    let bytes = 0;
    while (n < this.queue.length) {
      const op = this.queue[n]!;
      if (op.kind !== 'append') break;
      if (n > 0 && bytes + op.data.byteLength > this.maxAppendBytes) break;
      bytes += op.data.byteLength;
      n++;
    }
    const ops = this.queue.splice(0, n) as { kind: 'append'; data: Uint8Array }[];
    if (ops.length === 1) return ops[0]!.data;
    const out = new Uint8Array(bytes);
    let o = 0;
    for (const op of ops) {
      out.set(op.data, o);
      o += op.data.byteLength;
    }
    return out;
  }

  /** Frees back buffer after a QuotaExceededError, or gives up. */
  private onQuota(): void {
    const first = this.buffered()[0];
    const keepFrom = this.video.currentTime - 2;
    this.quotaRetries++;
    if (!first || first[0] >= keepFrom - 0.5 || this.quotaRetries > 3) {
      this.fatal(new MseSinkError('QuotaExceededError: the SourceBuffer is full'));
      return;
    }
    this.listener.onError(new MseSinkError('QuotaExceededError: trimming the back buffer'), false);
    this.sb!.remove(0, keepFrom);
  }

  private bufferedEnd(): number {
    const r = this.buffered();
    return r.length ? r[r.length - 1]![1] : 0;
  }
}
