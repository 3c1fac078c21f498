/**
 * The watch page's second chunk, loaded after the first frame (see
 * watch.ts and defer.ts): the stats overlay's updates and, beside the
 * video, the audience's side of the show over the viewer channel: chat, the
 * open poll, Q&A, reactions, the viewer count. Exposes the room as
 * window.liveloopRoom; listens to the `liveloop:cue` events the page
 * re-dispatches to show poll results, pins and answers with the picture,
 * and in spoiler-free mode holds each chat message until the picture
 * reaches it (chat-hold.ts).
 */
import type { Player } from '../player/index.js';
import { formatKbps, formatMs } from './location.js';
import { newSession, remember } from '../room/api.js';
import { ChatHold } from '../room/chat-hold.js';
import { ChatView } from '../room/chat-view.js';
import { ask, chat, react, upvote, vote } from '../room/commands.js';
import { channelKey, CueSync, holdMs } from '../room/cue-sync.js';
import { byId, h } from '../room/dom.js';
import type { ChatMessage, RoomEvent } from '../room/protocol.js';
import { RoomClient } from '../room/client.js';
import { PollCard } from '../room/poll-view.js';
import { plural } from '../room/poll.js';
import { QaView } from '../room/qa-view.js';
import { ReactionView } from '../room/reaction-view.js';

declare global {
  interface Window {
    /** The room, for tests and tools: its state, channel and the media time commands carry. */
    liveloopRoom?: { client: RoomClient; mediaTime: () => number | null; heldChat: () => number };
  }
}

const $ = byId;

/** Starts the stats overlay's updates and the room. */
export function mount(player: Player, stream: string): void {
  stats(player);
  audience(stream, player);
}

/** The stats overlay: the player's figures, twice a second. */
function stats(player: Player): void {
  const fields = new Map<string, HTMLElement>();
  for (const dd of $('stats').querySelectorAll<HTMLElement>('dd[data-k]')) fields.set(dd.dataset['k']!, dd);
  const set = (k: string, v: string) => {
    const el = fields.get(k);
    if (el && el.textContent !== v) el.textContent = v;
  };
  const render = () => {
    const s = player.stats();
    set('latency', formatMs(s.latency));
    set('startup', formatMs(s.startupTime));
    set('stalls', s.stallTime > 0 ? `${s.stalls} (${formatMs(s.stallTime)})` : String(s.stalls));
    set('bitrate', formatKbps(s.bitrate));
    set('resolution', s.width ? `${s.width}×${s.height}` : '–');
    set('buffer', `${formatMs(s.bufferedAhead)} ×${s.playbackRate.toFixed(2)}`);
    set('transport', s.transport);
    set('state', s.state);
  };
  setInterval(render, 500);
  render();
}

/** Remembered per viewer: their poll choices and upvotes (the server does not echo them). */
function memory<T>(name: string, viewer: () => string | undefined) {
  const load = (): Record<string, T> => {
    try {
      return JSON.parse(remember(`${name}.${viewer() ?? ''}`) || '{}') as Record<string, T>;
    } catch {
      return {};
    }
  };
  return {
    get: (id: string): T | undefined => load()[id],
    keys: (): string[] => Object.keys(load()),
    set: (id: string, v: T) => {
      const all = load();
      delete all[id];
      all[id] = v;
      const keys = Object.keys(all);
      for (const k of keys.slice(0, Math.max(0, keys.length - 100))) delete all[k];
      remember(`${name}.${viewer() ?? ''}`, JSON.stringify(all));
    },
  };
}

/** The audience's side: the room beside the video. */
function audience(stream: string, player: Player): void {
  // The frame on screen, on the stream's timeline; null before the first
  // frame or where the player cannot place frames (native HLS): commands
  // then go without, and the server stamps them with its media clock.
  const picture = (): number | null => {
    const t = player.mediaTime();
    return t !== null && Number.isFinite(t) ? t : null;
  };
  const mediaTime = picture;
  const me = () => client.session?.viewer;
  const votes = memory<number[]>('votes', me);
  const upvotes = memory<1>('upvotes', me);
  const upvoted = new Set<string>();
  const loadUpvotes = () => {
    upvoted.clear();
    for (const k of upvotes.keys()) upvoted.add(k);
  };

  // Who the viewer chats as, and a way to change it.
  const who = h('b', {}, '…');
  const nameInput = h('input', { id: 'name-input', maxlength: 32, autocomplete: 'nickname', placeholder: 'Your name', required: true });
  const nameForm = h(
    'form',
    { class: 'name-form', hidden: true, onsubmit: (e: Event) => (e.preventDefault(), void setName()) },
    h('label', { class: 'sr-only', for: 'name-input' }, 'Display name'),
    nameInput,
    h('button', { type: 'submit', class: 'btn small' }, 'Save'),
    h('button', { type: 'button', class: 'btn small ghost', onclick: () => ((nameForm.hidden = true), (identityLine.hidden = false)) }, 'Cancel'),
  );
  const change = h('button', { type: 'button', class: 'link-btn', 'aria-label': 'Change your display name', onclick: () => openName() }, 'change');
  const identityLine = h('span', { class: 'identity-line' }, 'as ', who, ' · ', change);
  const identity = h('span', { class: 'identity' }, identityLine, nameForm);
  const openName = () => {
    identityLine.hidden = true;
    nameForm.hidden = false;
    nameInput.value = client.session && !/^viewer-/.test(client.session.name) ? client.session.name : remember('name');
    nameInput.focus();
  };
  const setName = async () => {
    const name = nameInput.value.trim().slice(0, 32);
    if (!name) return;
    try {
      const s = await newSession(name);
      remember('name', name);
      client.setSession(s);
      client.channel.reconnect();
      nameForm.hidden = true;
      identityLine.hidden = false;
    } catch (err) {
      chatView.notify(`Could not change the name: ${(err as Error).message}`);
    }
  };

  const chatView = new ChatView({
    send: async (text) => void (await client.send(chat(text, mediaTime()))),
    me,
    identity,
  });
  const pollCard = new PollCard({
    mine: (id) => votes.get(id),
    vote: async (p, choices) => {
      try {
        await client.send(vote(p.id, choices, mediaTime()));
        votes.set(p.id, choices);
      } catch (err) {
        if ((err as { code?: string }).code === 'already_voted' && !votes.get(p.id)) votes.set(p.id, choices);
        throw err;
      }
    },
  });
  const qa = new QaView({
    ask: async (text) => void (await client.send(ask(text, mediaTime()))),
    upvote: async (q) => {
      try {
        await client.send(upvote(q.id, mediaTime()));
      } catch (err) {
        if ((err as { code?: string }).code !== 'already_voted') throw err;
      }
      upvotes.set(q.id, 1);
      upvoted.add(q.id);
      client.invalidate('questions');
    },
    upvoted,
    me,
  });
  const reactions = new ReactionView($('bursts'), (emoji, count) => {
    void client.send(react(emoji, count, mediaTime())).catch((err: Error) => chatView.notify(err.message));
  });

  const viewers = $('viewers');
  const roomStatus = $('room-status');
  const qaCount = $('qa-count');
  qa.onCount = (n) => (qaCount.textContent = n > 0 ? String(n) : '');

  const client: RoomClient = new RoomClient({
    stream,
    role: 'viewer',
    name: () => remember('name') || undefined,
    render: (st, parts) => {
      chatView.render(st, parts);
      if (parts.has('poll')) pollCard.render(st.poll);
      if (parts.has('questions')) qa.render(st);
      if (parts.has('viewers')) {
        viewers.hidden = false;
        viewers.textContent = `${plural(st.viewers, 'viewer')}`;
      }
    },
    reactions: (c) => reactions.counts(c),
    status: (s) => {
      roomStatus.textContent = s === 'connecting' ? 'Connecting…' : s === 'reconnecting' ? 'Reconnecting…' : '';
      roomStatus.hidden = !roomStatus.textContent;
    },
    session: (s) => {
      who.textContent = s.name;
      loadUpvotes();
    },
  });
  if (client.session) {
    who.textContent = client.session.name;
    loadUpvotes();
  }

  // Changes the rooms also post as cues wait for their cue, to appear with the picture.
  const sync = new CueSync({
    apply: (ev) => client.apply(ev),
    hold: () => holdMs(player.state === 'playing', player.stats().latency),
  });
  // Spoiler-free chat: messages ahead of the picture wait for it.
  const hold = new ChatHold();
  let holdTimer: ReturnType<typeof setInterval> | null = null;
  const show = (ms: ChatMessage[]) => {
    for (const m of ms) client.apply({ seq: m.seq, type: 'chat.message', data: m });
    if (hold.size > 0 && !holdTimer) holdTimer = setInterval(() => show(hold.due(picture(), performance.now())), 100);
    if (hold.size === 0 && holdTimer) {
      clearInterval(holdTimer);
      holdTimer = null;
    }
  };
  const holdChat = (ev: RoomEvent, resumed: boolean): boolean => {
    const d = (ev.data ?? {}) as Partial<ChatMessage> & { enabled?: boolean };
    switch (ev.type) {
      case 'chat.message':
        if (resumed || typeof d.id !== 'string') return false;
        show(hold.add(ev.data as ChatMessage, { on: client.state.chatSync, picture: picture(), now: performance.now(), mine: d.viewer === me() }));
        return true;
      case 'chat.deleted':
        hold.remove((m) => m.id === d.id);
        break;
      case 'mod.banned':
        hold.remove((m) => m.viewer === d.viewer);
        break;
      case 'chat.sync':
        if (d.enabled !== true) show(hold.drain());
        break;
    }
    return false;
  };
  client.route = (ev, resumed) => {
    if (!holdChat(ev, resumed)) sync.channel(ev, resumed ? null : channelKey(ev, client.state));
  };
  client.onSnapshot = () => {
    sync.clear();
    hold.clear();
    show([]);
  };
  window.addEventListener('liveloop:cue', (e) => sync.cue(e.detail));
  player.on('state', (s) => {
    if (s !== 'playing' && s !== 'stalled' && s !== 'buffering') sync.flush();
  });
  client.channel.on('events', ({ events }) => {
    // This viewer banned or timed out: say so and close the composer.
    for (const ev of events) {
      const d = ev.data as { viewer?: string; until?: string } | undefined;
      if (ev.type === 'mod.banned' && d?.viewer && d.viewer === me()) {
        const until = d.until ? Date.parse(d.until) : Infinity;
        chatView.block(until, d.until ? `Timed out until ${new Date(until).toLocaleTimeString()}` : 'You are banned from this chat');
      } else if (ev.type === 'mod.unbanned' && d?.viewer === me()) chatView.block(0, '');
    }
  });

  // Tabs: Chat, Q&A (arrow keys move between them).
  const tabs = [$<HTMLButtonElement>('tab-chat'), $<HTMLButtonElement>('tab-qa')];
  const panels = [$('panel-chat'), $('panel-qa')];
  const select = (i: number, focus = false) => {
    tabs.forEach((t, j) => {
      t.setAttribute('aria-selected', String(i === j));
      t.tabIndex = i === j ? 0 : -1;
      panels[j]!.hidden = i !== j;
    });
    if (focus) tabs[i]!.focus();
  };
  tabs.forEach((t, i) => {
    t.addEventListener('click', () => select(i));
    t.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') select((i + 1) % tabs.length, true);
    });
  });
  select(0);

  $('poll-slot').append(pollCard.el);
  panels[0]!.append(chatView.el);
  panels[1]!.append(qa.el);
  $('react-slot').append(reactions.bar);
  qa.render(client.state);
  chatView.render(client.state, new Set(['chat']));

  window.liveloopRoom = { client, mediaTime, heldChat: () => hold.size };
  client.connect();
}
