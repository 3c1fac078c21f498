/**
 * The chat: pinned message, messages (kept in sync with the room state by
 * id, so a render touches only what changed), and a composer with the
 * slow-mode indicator and clear errors. Staff get moderation buttons on
 * each message.
 */
import { checkText, LIMITS } from './commands.js';
import { clock, fill, flash, h } from './dom.js';
import type { ChatMessage } from './protocol.js';
import type { Part, RoomState } from './state.js';

export interface Moderation {
  delete(m: ChatMessage): void;
  pin(m: ChatMessage): void;
  unpin(): void;
  timeout(m: ChatMessage, seconds: number): void;
  ban(m: ChatMessage): void;
}

export interface ChatViewOptions {
  /** Sends a message; rejects with a message for people. */
  send?: (text: string) => Promise<void>;
  /** The viewer's id, to mark their messages. */
  me?: () => string | undefined;
  moderate?: Moderation;
  /** Shown above the composer: who the viewer chats as, and a way to change it. */
  identity?: HTMLElement;
}

export class ChatView {
  readonly el: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly pinned: HTMLElement;
  private readonly slow: HTMLElement;
  private readonly sync: HTMLElement;
  private readonly status: HTMLElement;
  private readonly input: HTMLTextAreaElement | null = null;
  private readonly button: HTMLButtonElement | null = null;
  private readonly items = new Map<string, HTMLLIElement>();
  private slowSeconds = 0;
  private cooldownUntil = 0;
  private blockedUntil = 0;
  private blockedText = '';
  private timer: ReturnType<typeof setInterval> | null = null;
  private sending = false;

  constructor(private readonly o: ChatViewOptions) {
    this.pinned = h('div', { class: 'pinned', hidden: true, role: 'note', 'aria-label': 'Pinned message' });
    this.list = h('ol', { class: 'chat-list', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Chat messages' });
    this.slow = h('span', { class: 'pill slow', hidden: true });
    this.sync = h('span', { class: 'pill', hidden: true, title: 'Spoiler-free chat: each message appears when your video reaches the moment it was sent' }, 'Spoiler-free');
    this.status = h('p', { class: 'form-status', role: 'alert', hidden: true });
    let form: HTMLFormElement | null = null;
    if (o.send) {
      const id = `chat-input-${Math.random().toString(36).slice(2, 7)}`;
      this.input = h('textarea', { id, rows: 1, maxlength: LIMITS.chat * 2, placeholder: 'Say something…', autocomplete: 'off', enterkeyhint: 'send' });
      this.button = h('button', { class: 'btn primary', type: 'submit' }, 'Send');
      this.input.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          form!.requestSubmit();
        }
      });
      form = h(
        'form',
        { class: 'composer', onsubmit: (e: Event) => (e.preventDefault(), void this.submit()) },
        h('label', { class: 'sr-only', for: id }, 'Chat message'),
        this.input,
        this.button,
      );
    }
    this.el = h(
      'section',
      { class: 'chat', 'aria-label': 'Chat' },
      this.pinned,
      this.list,
      h('div', { class: 'composer-wrap' }, h('div', { class: 'composer-meta' }, o.identity ?? null, this.slow, this.sync), form, this.status),
    );
  }

  /** Shows an error (or info) under the composer. */
  notify(text: string, kind: 'error' | 'info' = 'error'): void {
    flash(this.status, text, kind);
  }

  /** Blocks the composer until a time (a ban or timeout of this viewer); 0 lifts it. */
  block(until: number, text: string): void {
    this.blockedUntil = until;
    this.blockedText = text;
    this.tick();
  }

  render(st: RoomState, parts: Set<Part>): void {
    if (parts.has('chat')) this.renderList(st.chat);
    if (parts.has('pinned')) this.renderPinned(st.pinned);
    if (parts.has('sync')) this.sync.hidden = !st.chatSync;
    if (parts.has('slow')) {
      this.slowSeconds = st.slowMode;
      this.slow.hidden = !(st.slowMode > 0);
      this.slow.textContent = `Slow mode · ${st.slowMode} s`;
      this.slow.title = `Slow mode is on: one message every ${st.slowMode} seconds`;
    }
  }

  private renderList(chat: ChatMessage[]): void {
    const stick = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    const keep = new Set(chat.map((m) => m.id));
    for (const [id, li] of this.items) {
      if (!keep.has(id)) {
        li.remove();
        this.items.delete(id);
      }
    }
    let prev: Element | null = null;
    for (const m of chat) {
      let li = this.items.get(m.id);
      const sig = `${m.text}|${m.heldUntil ?? ''}`;
      if (!li || li.dataset['sig'] !== sig) {
        const fresh = this.message(m);
        fresh.dataset['sig'] = sig;
        if (li) li.replaceWith(fresh);
        li = fresh;
        this.items.set(m.id, li);
      }
      const want: Element | null = prev ? prev.nextElementSibling : this.list.firstElementChild;
      if (want !== li) this.list.insertBefore(li, want);
      prev = li;
    }
    if (chat.length === 0 && !this.list.firstElementChild) this.list.dataset['empty'] = '1';
    else delete this.list.dataset['empty'];
    if (stick) this.list.scrollTop = this.list.scrollHeight;
  }

  private message(m: ChatMessage): HTMLLIElement {
    const mine = this.o.me?.() === m.viewer;
    const role = m.role !== 'viewer' ? h('span', { class: `role role-${m.role}` }, m.role === 'host' ? 'host' : 'mod') : null;
    const li = h(
      'li',
      { class: `msg${mine ? ' mine' : ''}${m.heldUntil ? ' held' : ''}` },
      h('span', { class: 'who' }, role, h('b', {}, m.name), h('time', { datetime: m.at }, clock(m.at))),
      h('span', { class: 'text' }, m.text),
    );
    if (m.heldUntil) li.append(h('span', { class: 'pill' }, 'held'));
    const mod = this.o.moderate;
    if (mod) {
      const act = (label: string, aria: string, fn: () => void, cls = '') =>
        h('button', { type: 'button', class: `icon-btn ${cls}`, 'aria-label': `${aria} ${m.name}: ${m.text.slice(0, 40)}`, title: aria, onclick: fn }, label);
      li.append(
        h(
          'span',
          { class: 'mod-actions' },
          act('Pin', 'Pin message of', () => mod.pin(m)),
          act('Delete', 'Delete message of', () => mod.delete(m)),
          m.role === 'viewer' ? act('Timeout', 'Time out for 10 minutes', () => mod.timeout(m, 600)) : null,
          m.role === 'viewer' ? act('Ban', 'Ban', () => mod.ban(m), 'danger') : null,
        ),
      );
    }
    return li;
  }

  private renderPinned(m: ChatMessage | null): void {
    this.pinned.hidden = !m;
    if (!m) return fill(this.pinned);
    fill(
      this.pinned,
      h('span', { class: 'pin-label' }, '📌 Pinned'),
      h('span', { class: 'who' }, h('b', {}, m.name)),
      h('span', { class: 'text' }, m.text),
      this.o.moderate ? h('button', { type: 'button', class: 'icon-btn', onclick: () => this.o.moderate!.unpin() }, 'Unpin') : null,
    );
  }

  private async submit(): Promise<void> {
    if (!this.input || !this.o.send || this.sending) return;
    const text = this.input.value;
    const bad = checkText(text, LIMITS.chat);
    if (bad) return this.notify(bad);
    if (Date.now() < this.cooldownUntil) return this.notify(`Slow mode: wait ${Math.ceil((this.cooldownUntil - Date.now()) / 1000)} s.`);
    this.sending = true;
    this.button!.disabled = true;
    try {
      await this.o.send(text);
      this.input.value = '';
      this.notify('', 'info');
      if (this.slowSeconds > 0) this.cooldownUntil = Date.now() + this.slowSeconds * 1000;
    } catch (err) {
      this.notify((err as Error).message);
    } finally {
      this.sending = false;
      this.tick();
      this.input.focus();
    }
  }

  /** Updates the send button: slow-mode countdown, ban. */
  private tick(): void {
    if (!this.button || !this.input) return;
    const now = Date.now();
    const blocked = this.blockedUntil > now;
    const cool = this.cooldownUntil > now;
    this.input.disabled = blocked;
    this.button.disabled = blocked || cool || this.sending;
    this.button.textContent = cool ? `${Math.ceil((this.cooldownUntil - now) / 1000)} s` : 'Send';
    if (blocked) this.input.placeholder = this.blockedText;
    else if (this.input.placeholder !== 'Say something…') this.input.placeholder = 'Say something…';
    const need = blocked || cool;
    if (need && !this.timer) this.timer = setInterval(() => this.tick(), 500);
    if (!need && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
