/**
 * The open poll: vote (radio or checkboxes), change the vote if the poll
 * allows, live results as bars (or "results at close"), final results.
 * resultBars() draws a poll's results for the studio too.
 */
import { fill, flash, h } from './dom.js';
import { leaders, percentages, plural, pollStatusLine, resultsShown, voteAction } from './poll.js';
import type { PollView } from './protocol.js';

/** A poll's results as bars, with percentages and counts. */
export function resultBars(p: PollView): HTMLElement {
  const tally = p.tally ?? [];
  const pct = percentages(tally, p.voters, p.multiple);
  const top = new Set(p.status === 'closed' ? leaders(tally) : []);
  return h(
    'ol',
    { class: 'bars' },
    p.options.map((o, i) =>
      h(
        'li',
        { class: top.has(i) ? 'lead' : '' },
        h('span', { class: 'meter', style: `--pct:${pct[i] ?? 0}%`, 'aria-hidden': 'true' }),
        h('span', { class: 'opt' }, o),
        h('span', { class: 'pct' }, `${pct[i] ?? 0}%`, h('span', { class: 'sr-only' }, `, ${plural(tally[i] ?? 0, 'vote')}`)),
      ),
    ),
  );
}

export interface PollCardOptions {
  vote: (poll: PollView, choices: number[]) => Promise<void>;
  /** The viewer's recorded choices for a poll. */
  mine: (pollId: string) => number[] | undefined;
}

export class PollCard {
  readonly el: HTMLElement;
  private poll: PollView | null = null;
  private readonly body: HTMLElement;
  private readonly status: HTMLElement;
  private readonly line: HTMLElement;
  private dismissed = '';
  private timer: ReturnType<typeof setInterval> | null = null;
  private draft = new Map<string, Set<number>>();
  private busy = false;

  constructor(private readonly o: PollCardOptions) {
    this.body = h('div', { class: 'poll-body' });
    this.line = h('p', { class: 'poll-line' });
    this.status = h('p', { class: 'form-status', role: 'alert', hidden: true });
    this.el = h('section', { class: 'card poll', 'aria-label': 'Poll', hidden: true }, this.body, this.line, this.status);
  }

  render(p: PollView | null): void {
    const changed = !this.poll || !p || this.poll.id !== p.id || this.poll.status !== p.status;
    this.poll = p;
    this.el.hidden = !p || this.dismissed === `${p.id}:${p.status}`;
    if (!p) return this.stopTimer();
    if (changed && p.status === 'open') {
      // Announce a new poll to screen readers once.
      this.el.setAttribute('aria-live', 'polite');
    }
    this.draw();
    if (p.status === 'open' && p.closesAt) this.startTimer();
    else this.stopTimer();
  }

  private draw(): void {
    const p = this.poll!;
    const mine = this.o.mine(p.id);
    const act = voteAction(p, mine, Date.now());
    const shown = resultsShown(p);
    const head = h(
      'header',
      { class: 'card-head' },
      h('span', { class: `pill ${p.status === 'open' ? 'live' : ''}` }, p.status === 'open' ? 'Poll' : 'Poll closed'),
      p.status === 'closed'
        ? h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Hide the poll', onclick: () => ((this.dismissed = `${p.id}:${p.status}`), (this.el.hidden = true)) }, '✕')
        : null,
    );
    const q = h('h2', { class: 'poll-q', id: `poll-q-${p.id}` }, p.question);
    let main: HTMLElement;
    if (act.enabled) {
      const sel = this.draft.get(p.id) ?? new Set(mine ?? []);
      this.draft.set(p.id, sel);
      const type = p.multiple ? 'checkbox' : 'radio';
      const max = p.multiple ? p.maxChoices || p.options.length : 1;
      const pct = shown === 'live' ? percentages(p.tally ?? [], p.voters, p.multiple) : null;
      const button = h('button', { type: 'submit', class: 'btn primary', disabled: sel.size === 0 || this.busy }, act.label);
      const inputs = p.options.map((o, i) => {
        const input = h('input', { type, name: `poll-${p.id}`, value: String(i), checked: sel.has(i) });
        input.addEventListener('change', () => {
          if (!p.multiple) sel.clear();
          if (input.checked) {
            if (sel.size >= max) {
              input.checked = false;
              flash(this.status, `Pick at most ${max}.`);
              return;
            }
            sel.add(i);
          } else sel.delete(i);
          button.disabled = sel.size === 0;
        });
        return h(
          'label',
          { class: `choice${mine?.includes(i) ? ' voted' : ''}` },
          pct ? h('span', { class: 'meter', style: `--pct:${pct[i] ?? 0}%`, 'aria-hidden': 'true' }) : null,
          input,
          h('span', { class: 'opt' }, o),
          pct ? h('span', { class: 'pct' }, `${pct[i] ?? 0}%`) : null,
        );
      });
      main = h(
        'form',
        { class: 'poll-form', onsubmit: (e: Event) => (e.preventDefault(), void this.submit([...sel])) },
        h('fieldset', { 'aria-labelledby': `poll-q-${p.id}` }, inputs),
        button,
      );
    } else if (shown === 'hidden') {
      main = h(
        'div',
        {},
        h('ul', { class: 'plain-options' }, p.options.map((o, i) => h('li', { class: mine?.includes(i) ? 'voted' : '' }, o, mine?.includes(i) ? h('span', { class: 'pill' }, 'your vote') : null))),
        h('p', { class: 'muted small' }, mine ? 'Thanks for voting. Results are shown when the poll closes.' : 'Results are shown when the poll closes.'),
      );
    } else {
      main = resultBars(p);
      if (mine) for (const i of mine) main.children[i]?.classList.add('voted');
    }
    // Keep keyboard focus across redraws (live results redraw often).
    const a = document.activeElement as HTMLElement | null;
    const focus = a && this.body.contains(a) ? (a instanceof HTMLInputElement ? `input[value="${a.value}"]` : a.tagName === 'BUTTON' ? 'button[type=submit]' : '') : '';
    fill(this.body, head, q, main);
    if (focus) this.body.querySelector<HTMLElement>(focus)?.focus();
    this.updateLine();
  }

  private updateLine(): void {
    if (!this.poll) return;
    const mine = this.o.mine(this.poll.id);
    const extra = mine && this.poll.status === 'open' ? ' · you voted' : '';
    this.line.textContent = pollStatusLine(this.poll, Date.now()) + extra;
  }

  private async submit(choices: number[]): Promise<void> {
    const p = this.poll;
    if (!p || this.busy || choices.length === 0) return;
    this.busy = true;
    try {
      await this.o.vote(p, choices);
      this.draft.delete(p.id);
      flash(this.status, 'Vote recorded.', 'info', 2500);
    } catch (err) {
      flash(this.status, (err as Error).message);
    } finally {
      this.busy = false;
      if (this.poll) this.draw();
    }
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.updateLine();
      const p = this.poll;
      if (p?.closesAt && Date.parse(p.closesAt) <= Date.now()) this.draw();
    }, 1000);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
