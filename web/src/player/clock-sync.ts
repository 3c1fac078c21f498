/**
 * NTP-style estimate of the server's wall clock from the client's monotonic
 * clock (performance.now()), as docs/ws-protocol.md describes: every
 * ping/pong gives a sample offset = serverTime - (clientSend + rtt/2), and the
 * sample with the smallest round trip among the last few wins, since its
 * error is bounded by rtt/2.
 *
 * All times are milliseconds. The offset is "server wall clock minus client
 * monotonic clock": serverNow = clientNow + offset.
 */
export interface ClockSample {
  /** Round-trip time, ms. */
  rtt: number;
  /** serverWall - clientMonotonic, ms. */
  offset: number;
  /** Client time the sample was taken (its receive time), ms. */
  at: number;
}

export interface ClockSyncOptions {
  /** How many recent samples compete for the minimum RTT. Default 8. */
  window?: number;
  /** Samples older than this (client ms) no longer compete. Default 60 000. */
  maxAgeMs?: number;
}

export class ClockSync {
  private readonly window: number;
  private readonly maxAgeMs: number;
  private samples: ClockSample[] = [];
  private coarse: ClockSample | undefined;

  constructor(opts: ClockSyncOptions = {}) {
    this.window = Math.max(1, opts.window ?? 8);
    this.maxAgeMs = opts.maxAgeMs ?? 60_000;
  }

  /**
   * Records a one-way observation (the `hello` message's serverTime received
   * at clientRecv). It is used only until the first round-trip sample, and
   * errs by the one-way delay.
   */
  addCoarse(serverTime: number, clientRecv: number): void {
    if (!Number.isFinite(serverTime) || !Number.isFinite(clientRecv)) return;
    this.coarse = { rtt: Infinity, offset: serverTime - clientRecv, at: clientRecv };
  }

  /**
   * Records a ping/pong round trip. Returns false (and ignores the sample)
   * when it is inconsistent: a negative round trip or non-finite values.
   */
  addSample(clientSend: number, serverTime: number, clientRecv: number): boolean {
    const rtt = clientRecv - clientSend;
    if (!Number.isFinite(rtt) || !Number.isFinite(serverTime) || rtt < 0) return false;
    this.samples.push({ rtt, offset: serverTime - (clientSend + rtt / 2), at: clientRecv });
    if (this.samples.length > this.window) this.samples.splice(0, this.samples.length - this.window);
    return true;
  }

  /** The winning sample, or undefined before any observation. */
  best(): ClockSample | undefined {
    let best: ClockSample | undefined;
    const newest = this.samples.length ? this.samples[this.samples.length - 1]!.at : 0;
    for (const s of this.samples) {
      if (newest - s.at > this.maxAgeMs) continue;
      if (!best || s.rtt < best.rtt) best = s;
    }
    return best ?? this.coarse;
  }

  /** serverWall - clientMonotonic in ms, or undefined before any observation. */
  get offset(): number | undefined {
    return this.best()?.offset;
  }

  /** Round-trip time of the winning sample in ms (undefined if none yet). */
  get rtt(): number | undefined {
    const b = this.best();
    return b && Number.isFinite(b.rtt) ? b.rtt : undefined;
  }

  /** The estimated server wall clock (ms since the epoch) at clientNow. */
  serverNow(clientNow: number): number | undefined {
    const o = this.offset;
    return o === undefined ? undefined : clientNow + o;
  }
}
