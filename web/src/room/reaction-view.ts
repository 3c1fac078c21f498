/**
 * Reaction buttons and the floating bursts over the video. A tap floats
 * one particle at once and is batched up (TapBatcher); the server's counts
 * float others' reactions (BurstAggregator).
 */
import { EMOJI } from './commands.js';
import { h } from './dom.js';
import { BurstAggregator, TapBatcher, type Burst } from './reactions.js';

/** Particles alive at once, at most. */
const MAX_LIVE = 60;

export class ReactionView {
  readonly bar: HTMLElement;
  private readonly agg = new BurstAggregator();
  private readonly batcher: TapBatcher;
  private readonly reduced = typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;

  constructor(
    /** The layer particles float in (over the video). */
    private readonly layer: HTMLElement,
    send: (emoji: string, count: number) => void,
  ) {
    this.batcher = new TapBatcher(send);
    this.bar = h(
      'div',
      { class: 'reactions', role: 'group', 'aria-label': 'Reactions' },
      EMOJI.map((e) =>
        h('button', { type: 'button', class: 'react-btn', 'aria-label': `React with ${e}`, onclick: () => this.tap(e) }, e),
      ),
    );
  }

  tap(emoji: string): void {
    this.agg.local(emoji);
    this.batcher.tap(emoji);
    this.float(emoji, true);
  }

  /** A window of counts from the server. */
  counts(counts: Record<string, number>): void {
    for (const b of this.agg.remote(counts)) this.burst(b);
  }

  private burst(b: Burst): void {
    for (let i = 0; i < b.particles; i++) setTimeout(() => this.float(b.emoji, false), i * (220 / b.particles) + Math.random() * 60);
  }

  private float(emoji: string, own: boolean): void {
    if (document.hidden || this.layer.childElementCount >= MAX_LIVE) return;
    const s = h('span', { class: `particle${own ? ' own' : ''}${this.reduced ? ' calm' : ''}`, 'aria-hidden': 'true' }, emoji);
    s.style.setProperty('--x', `${own ? 62 + Math.random() * 26 : 50 + Math.random() * 40}%`);
    s.style.setProperty('--drift', `${(Math.random() - 0.5) * 80}px`);
    s.style.setProperty('--dur', `${2.2 + Math.random() * 1.2}s`);
    s.style.setProperty('--size', `${own ? 1.9 : 1.3 + Math.random() * 0.6}rem`);
    s.addEventListener('animationend', () => s.remove());
    this.layer.append(s);
  }
}
