/**
 * Spoiler-free chat (the room's chatSync setting): each viewer sees a chat
 * message when their picture reaches the media time it belongs to
 * (ChatMessage.mediaTime, on the stream's timeline), so a viewer 3 s behind
 * live does not read about the goal 3 s before they see it.
 *
 * ChatHold keeps the messages that are ahead of the picture, in arrival
 * order, and says which to show when. Shown at once: messages without a
 * media time, the viewer's own, moderators' and the host's, and all of them
 * when the setting is off or the player cannot place its picture on the
 * stream's timeline. The wait is bounded (maxWaitMs per message: a paused
 * or stalled picture does not hide the chat for long) and so is the queue
 * (maxHeld: beyond it the oldest is shown). Deletions and bans remove held
 * messages too. Pure (clocks passed in), so it is unit-tested.
 */
import type { ChatMessage } from './protocol.js';

export interface ChatHoldOptions {
  /** Longest wait of one message, ms. Default 30000. */
  maxWaitMs?: number;
  /** Most messages held at once. Default 200. */
  maxHeld?: number;
}

/** What decides whether a message waits. */
export interface HoldContext {
  /** The room's spoiler-free setting. */
  on: boolean;
  /** The media time (s, stream timeline) of the frame on screen; null if unknown. */
  picture: number | null;
  /** Now, ms on a monotonic clock (performance.now()). */
  now: number;
  /** The message is the viewer's own. */
  mine: boolean;
}

export class ChatHold {
  private readonly maxWaitMs: number;
  private readonly maxHeld: number;
  private held: { m: ChatMessage; deadline: number }[] = [];

  constructor(o: ChatHoldOptions = {}) {
    this.maxWaitMs = o.maxWaitMs ?? 30_000;
    this.maxHeld = o.maxHeld ?? 200;
  }

  /** Messages held. */
  get size(): number {
    return this.held.length;
  }

  /**
   * Takes a message from the channel and returns those to show now: the
   * message itself if it need not wait, and the oldest held one if the
   * queue overflowed. A message already held (a resent event) is replaced.
   */
  add(m: ChatMessage, c: HoldContext): ChatMessage[] {
    const i = this.held.findIndex((h) => h.m.id === m.id);
    const waits = c.on && !c.mine && m.role === 'viewer' && c.picture !== null && typeof m.mediaTime === 'number' && m.mediaTime > c.picture;
    if (!waits) {
      if (i >= 0) this.held.splice(i, 1);
      return [m];
    }
    if (i >= 0) {
      this.held[i]!.m = m;
      return [];
    }
    this.held.push({ m, deadline: c.now + this.maxWaitMs });
    return this.held.length > this.maxHeld ? [this.held.shift()!.m] : [];
  }

  /**
   * Returns (and forgets) the messages whose time has come: the picture
   * reached them, or they waited maxWaitMs. An unknown picture releases
   * everything.
   */
  due(picture: number | null, now: number): ChatMessage[] {
    const out: ChatMessage[] = [];
    this.held = this.held.filter((h) => {
      const ready = picture === null || (h.m.mediaTime ?? 0) <= picture || now >= h.deadline;
      if (ready) out.push(h.m);
      return !ready;
    });
    return out;
  }

  /** Drops held messages that match (a deletion, a ban). */
  remove(match: (m: ChatMessage) => boolean): void {
    this.held = this.held.filter((h) => !match(h.m));
  }

  /** Returns (and forgets) every held message: the setting was turned off. */
  drain(): ChatMessage[] {
    const out = this.held.map((h) => h.m);
    this.held = [];
    return out;
  }

  /** Forgets every held message: a snapshot brought the chat as it is now. */
  clear(): void {
    this.held = [];
  }
}
