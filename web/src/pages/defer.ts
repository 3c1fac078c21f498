/**
 * When the watch page loads what is not the picture (the stats overlay's
 * updates, the room): after the first frame, so that neither its download
 * nor its evaluation nor its DOM work competes with the player for the main
 * thread while the first frame is on its way. Pure (timers injected), so it
 * is unit-tested.
 */
import type { PlayerState } from '../player/index.js';

/** States in which no frame is coming soon: load the rest at once. */
export const NO_FRAME_SOON: ReadonlySet<PlayerState> = new Set<PlayerState>(['offline', 'waiting', 'ended', 'error', 'stopped']);

/** What afterFirstFrame needs: the player's first frame and its states. */
export interface FirstFrameSource {
  /** Resolves when the first frame is shown (Player.play()). */
  firstFrame: Promise<unknown>;
  /** Subscribes to the player's states. */
  onState: (fn: (s: PlayerState) => void) => void;
}

export interface Timers {
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (h: unknown) => void;
}

/**
 * Calls run once: when the first frame is shown, when the player reaches a
 * state in which no frame is coming soon (offline, waiting, ended, error,
 * stopped), or after maxWaitMs, whichever comes first.
 */
export function afterFirstFrame(src: FirstFrameSource, run: () => void, maxWaitMs: number, timers: Timers = globalThis as unknown as Timers): void {
  let done = false;
  let timer: unknown;
  const go = () => {
    if (done) return;
    done = true;
    timers.clearTimeout(timer);
    run();
  };
  timer = timers.setTimeout(go, maxWaitMs);
  src.firstFrame.then(go, go);
  src.onState((s) => {
    if (NO_FRAME_SOON.has(s)) go();
  });
}
