/**
 * Q&A: ask, upvote once, questions by votes then time, answered ones last
 * with a marker. Staff see the moderation queue (pending), the visible and
 * the hidden questions, with approve, hide and answer buttons.
 */
import { checkText, LIMITS } from './commands.js';
import { fill, flash, h } from './dom.js';
import { plural } from './poll.js';
import type { QuestionStatus, QuestionView } from './protocol.js';
import { sortedQuestions, type RoomState } from './state.js';

export interface QaModeration {
  approve(q: QuestionView): void;
  hide(q: QuestionView): void;
  answer(q: QuestionView): void;
}

export interface QaViewOptions {
  ask?: (text: string) => Promise<void>;
  upvote?: (q: QuestionView) => Promise<void>;
  /** Question ids this viewer upvoted. */
  upvoted?: Set<string>;
  me?: () => string | undefined;
  moderate?: QaModeration;
}

export class QaView {
  readonly el: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly status: HTMLElement;
  private readonly tabs: HTMLElement | null = null;
  private filter: QuestionStatus = 'visible';
  private last: RoomState | null = null;
  /** Called with the number of open (unanswered visible) questions after each render. */
  onCount: (n: number) => void = () => undefined;

  constructor(private readonly o: QaViewOptions) {
    this.list = h('ol', { class: 'qa-list', 'aria-label': 'Questions' });
    this.status = h('p', { class: 'form-status', role: 'alert', hidden: true });
    let form: HTMLElement | null = null;
    if (o.ask) {
      const id = `qa-input-${Math.random().toString(36).slice(2, 7)}`;
      const input = h('textarea', { id, rows: 2, placeholder: 'Ask the host a question…', maxlength: LIMITS.question * 2 });
      const button = h('button', { type: 'submit', class: 'btn' }, 'Ask');
      form = h(
        'form',
        {
          class: 'composer ask',
          onsubmit: async (e: Event) => {
            e.preventDefault();
            const bad = checkText(input.value, LIMITS.question);
            if (bad) return flash(this.status, bad);
            button.disabled = true;
            try {
              await o.ask!(input.value);
              input.value = '';
              flash(this.status, 'Question sent.', 'info', 2500);
            } catch (err) {
              flash(this.status, (err as Error).message);
            } finally {
              button.disabled = false;
            }
          },
        },
        h('label', { class: 'sr-only', for: id }, 'Your question'),
        input,
        button,
      );
    }
    if (o.moderate) {
      const tab = (s: QuestionStatus, label: string) =>
        h(
          'button',
          {
            type: 'button',
            class: 'seg',
            'aria-pressed': String(s === this.filter),
            'data-s': s,
            onclick: () => {
              this.filter = s;
              for (const b of this.tabs!.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset['s'] === s));
              if (this.last) this.render(this.last);
            },
          },
          label,
        );
      this.tabs = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Show questions' }, tab('pending', 'Queue'), tab('visible', 'Visible'), tab('hidden', 'Hidden'));
    }
    this.el = h('section', { class: 'qa', 'aria-label': 'Questions and answers' }, form, this.status, this.tabs, this.list);
  }

  render(st: RoomState): void {
    this.last = st;
    const qs = sortedQuestions(st.questions.values(), this.filter);
    this.onCount(sortedQuestions(st.questions.values()).filter((q) => !q.answered).length);
    if (this.tabs) {
      for (const b of this.tabs.querySelectorAll<HTMLButtonElement>('button')) {
        const n = sortedQuestions(st.questions.values(), b.dataset['s']).length;
        b.textContent = `${b.dataset['s'] === 'pending' ? 'Queue' : b.dataset['s'] === 'visible' ? 'Visible' : 'Hidden'} (${n})`;
      }
    }
    if (qs.length === 0) {
      fill(this.list, h('li', { class: 'empty' }, this.filter === 'pending' ? 'No questions waiting.' : this.o.ask ? 'No questions yet. Ask the first one.' : 'No questions.'));
      return;
    }
    const focusId = (document.activeElement as HTMLElement | null)?.closest?.('li')?.dataset['id'];
    fill(this.list, qs.map((q) => this.item(q)));
    if (focusId) this.list.querySelector<HTMLElement>(`li[data-id="${focusId}"] button`)?.focus();
  }

  private item(q: QuestionView): HTMLLIElement {
    const voted = this.o.upvoted?.has(q.id) ?? false;
    const mine = this.o.me?.() === q.viewer;
    const up = this.o.upvote
      ? h(
          'button',
          {
            type: 'button',
            class: 'vote-btn',
            'aria-pressed': String(voted),
            disabled: voted || mine || q.answered,
            'aria-label': `Upvote: ${q.text.slice(0, 60)} (${plural(q.upvotes, 'vote')})`,
            title: mine ? 'Your question' : voted ? 'You upvoted this' : 'Upvote',
            onclick: async (e: Event) => {
              const b = e.currentTarget as HTMLButtonElement;
              b.disabled = true;
              try {
                await this.o.upvote!(q);
              } catch (err) {
                flash(this.status, (err as Error).message);
                b.disabled = false;
              }
            },
          },
          h('span', { 'aria-hidden': 'true' }, '▲'),
          h('span', {}, String(q.upvotes)),
        )
      : h('span', { class: 'vote-btn static', 'aria-label': plural(q.upvotes, 'upvote') }, '▲ ', String(q.upvotes));
    const mod = this.o.moderate;
    const btn = (label: string, fn: () => void, cls = '') => h('button', { type: 'button', class: `icon-btn ${cls}`, onclick: fn }, label);
    return h(
      'li',
      { class: `q${q.answered ? ' answered' : ''}`, 'data-id': q.id },
      up,
      h(
        'div',
        { class: 'q-body' },
        h('p', { class: 'text' }, q.text),
        h('p', { class: 'meta' }, q.name, q.answered ? h('span', { class: 'pill ok' }, '✓ Answered') : null, mine ? h('span', { class: 'pill' }, 'you') : null),
      ),
      mod
        ? h(
            'span',
            { class: 'mod-actions' },
            q.status !== 'visible' ? btn('Approve', () => mod.approve(q)) : null,
            q.status === 'visible' && !q.answered ? btn('Answered', () => mod.answer(q)) : null,
            q.status !== 'hidden' ? btn('Hide', () => mod.hide(q), 'danger') : null,
          )
        : null,
    );
  }
}
