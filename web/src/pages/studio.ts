/**
 * The studio, served at /studio/{stream} (or any path with ?stream=): the
 * host goes live from the browser over WHIP (camera and microphone, or the
 * screen), watches the output as viewers get it (the player, muted), and
 * runs the room through the REST API with a host token: polls, chat
 * moderation, Q&A moderation, custom cues.
 */
import { Player } from '../player/index.js';
import { formatKbps, formatMs, pageStream } from './location.js';
import { api, newSession, remember, roomPath } from '../room/api.js';
import { ChatView } from '../room/chat-view.js';
import { chat, cleanMediaTime } from '../room/commands.js';
import { byId as $, fill, flash, h } from '../room/dom.js';
import { RoomClient } from '../room/client.js';
import { resultBars } from '../room/poll-view.js';
import { plural, pollStatusLine } from '../room/poll.js';
import type { ChatMessage, PollView, QuestionView } from '../room/protocol.js';
import { QaView } from '../room/qa-view.js';
import type { RoomState } from '../room/state.js';
import { WhipPublisher, whipURL } from '../room/whip.js';

const stream = pageStream('studio', location.pathname, location.search);
$('title').textContent = stream;
document.title = `Studio · ${stream} · Liveloop`;
$<HTMLAnchorElement>('watch-link').href = `/watch/${encodeURIComponent(stream)}`;

// ---- Output preview: the player on the same stream, muted.

const output = $<HTMLVideoElement>('output');
output.muted = true;
const player = new Player(output, { stream });
const outFields = new Map<string, HTMLElement>();
for (const dd of $('out-stats').querySelectorAll<HTMLElement>('dd[data-k]')) outFields.set(dd.dataset['k']!, dd);
const outNotice = $('output-notice');
setInterval(() => {
  const s = player.stats();
  const set = (k: string, v: string) => outFields.get(k) && (outFields.get(k)!.textContent = v);
  set('state', s.state);
  set('latency', formatMs(s.latency));
  set('bitrate', formatKbps(s.bitrate));
  set('resolution', s.width ? `${s.width}×${s.height}` : '–');
  set('transport', s.transport);
  set('stalls', String(s.stalls));
  const msg = s.state === 'offline' ? 'Not live yet' : s.state === 'waiting' ? 'Waiting for the broadcaster…' : s.state === 'connecting' ? 'Connecting…' : '';
  outNotice.hidden = !msg;
  outNotice.textContent = msg;
}, 500);
void player.play().catch(() => undefined);
/** The media time of the output on screen, for the host's commands. */
const outputTime = () => cleanMediaTime(output.currentTime);

// ---- Going live over WHIP.

const preview = $<HTMLVideoElement>('preview');
const source = $<HTMLSelectElement>('source');
const camera = $<HTMLSelectElement>('camera');
const mic = $<HTMLSelectElement>('mic');
const resolution = $<HTMLSelectElement>('resolution');
const bitrate = $<HTMLSelectElement>('bitrate');
const keyInput = $<HTMLInputElement>('publish-key');
const previewBtn = $<HTMLButtonElement>('preview-btn');
const liveBtn = $<HTMLButtonElement>('live-btn');
const pcState = $('pc-state');
const badge = $('badge');
const bcStatus = $('bc-status');
const previewNotice = $('preview-notice');

keyInput.value = remember(`publishKey.${stream}`) || stream;
source.value = remember('studio.source') || 'camera';
let media: MediaStream | null = null;
let publisher: WhipPublisher | null = null;

const size = () => {
  const [w, hh] = resolution.value.split('x').map(Number);
  return { width: w ?? 1280, height: hh ?? 720 };
};

function showPc(state: string): void {
  pcState.dataset['state'] = state;
  const label: Record<string, string> = { new: 'not live', connecting: 'connecting…', connected: 'live', disconnected: 'reconnecting…', failed: 'failed', closed: 'not live' };
  pcState.textContent = label[state] ?? state;
  badge.dataset['state'] = state === 'connected' ? 'playing' : state === 'failed' ? 'error' : state === 'connecting' ? 'connecting' : 'idle';
  badge.textContent = state === 'connected' ? 'live' : state === 'connecting' ? 'connecting' : 'offline';
  const live = publisher !== null;
  liveBtn.textContent = live ? 'Stop' : 'Go live';
  liveBtn.classList.toggle('danger', live);
  if (state === 'failed') flash(bcStatus, 'The connection to the server failed. Press Stop, then Go live again.', 'error', 0);
}

async function listDevices(): Promise<void> {
  if (!navigator.mediaDevices?.enumerateDevices) return;
  const devs = await navigator.mediaDevices.enumerateDevices();
  const fillSel = (sel: HTMLSelectElement, kind: MediaDeviceKind, dflt: string) => {
    const cur = sel.value;
    fill(sel, h('option', { value: '' }, dflt), devs.filter((d) => d.kind === kind && d.deviceId).map((d, i) => h('option', { value: d.deviceId }, d.label || `${dflt.replace('Default ', '')} ${i + 1}`)));
    sel.value = cur;
  };
  fillSel(camera, 'videoinput', 'Default camera');
  fillSel(mic, 'audioinput', 'Default microphone');
}

async function getMedia(): Promise<MediaStream> {
  const { width, height } = size();
  const video: MediaTrackConstraints = { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: 30 } };
  const md = navigator.mediaDevices;
  if (!md) throw new Error('This browser cannot capture media here (it needs HTTPS or localhost).');
  const audio: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true, ...(mic.value ? { deviceId: { exact: mic.value } } : {}) };
  if (source.value === 'camera') {
    return md.getUserMedia({ video: { ...video, ...(camera.value ? { deviceId: { exact: camera.value } } : {}) }, audio });
  }
  const screen = await md.getDisplayMedia({ video, audio: false });
  if (source.value === 'screen+mic') {
    for (const t of (await md.getUserMedia({ audio, video: false })).getAudioTracks()) screen.addTrack(t);
  }
  return screen;
}

function stopMedia(): void {
  for (const t of media?.getTracks() ?? []) t.stop();
  media = null;
  preview.srcObject = null;
}

async function startPreview(): Promise<void> {
  try {
    const next = await getMedia();
    const old = media;
    media = next;
    preview.srcObject = next;
    previewNotice.hidden = true;
    if (publisher) for (const t of next.getTracks()) await publisher.replaceTrack(t);
    for (const t of old?.getTracks() ?? []) t.stop();
    const v = next.getVideoTracks()[0];
    v?.addEventListener('ended', () => {
      if (source.value !== 'camera' && publisher) void stopLive('Screen sharing ended.');
    });
    const s = v?.getSettings();
    flash(bcStatus, s?.width ? `Capturing ${s.width}×${s.height}${s.frameRate ? ` at ${Math.round(s.frameRate)} fps` : ''}.` : 'Capturing.', 'info', 4000);
    await listDevices();
  } catch (err) {
    const e = err as DOMException;
    const why =
      e.name === 'NotAllowedError' ? 'Permission to capture was denied.' : e.name === 'NotFoundError' ? 'No such device.' : e.name === 'OverconstrainedError' ? 'The device cannot do that resolution.' : e.message;
    flash(bcStatus, `Could not start the ${source.value.startsWith('screen') ? 'screen capture' : 'camera'}: ${why}`, 'error', 0);
    throw err;
  }
}

async function goLive(): Promise<void> {
  if (!media) await startPreview();
  if (!media) return;
  const key = keyInput.value.trim();
  if (!key) return flash(bcStatus, 'Enter the publish key.', 'error');
  remember(`publishKey.${stream}`, key);
  const pub = new WhipPublisher({ url: whipURL(location.origin, stream), key, stream: media, maxBitrate: Number(bitrate.value), onState: showPc });
  publisher = pub;
  liveBtn.disabled = true;
  showPc('connecting');
  try {
    await pub.start();
    flash(bcStatus, 'Publishing. Viewers see you in the output below once the first keyframe arrives.', 'info', 6000);
  } catch (err) {
    publisher = null;
    pub.pc.close();
    showPc('new');
    const e = err as Error & { status?: number };
    flash(bcStatus, `Could not go live: ${e.message}${e.status ? ` (HTTP ${e.status})` : ''}`, 'error', 0);
  } finally {
    liveBtn.disabled = false;
  }
}

async function stopLive(why = ''): Promise<void> {
  const pub = publisher;
  publisher = null;
  if (pub) await pub.stop();
  showPc('closed');
  if (why) flash(bcStatus, why, 'info');
}

previewBtn.addEventListener('click', () => void startPreview().catch(() => undefined));
$('bc-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void (publisher ? stopLive('Stopped.') : goLive());
});
source.addEventListener('change', () => {
  remember('studio.source', source.value);
  if (media) void startPreview().catch(() => undefined);
});
for (const sel of [camera, mic]) sel.addEventListener('change', () => media && void startPreview().catch(() => undefined));
resolution.addEventListener('change', async () => {
  const v = media?.getVideoTracks()[0];
  if (!v) return;
  try {
    await v.applyConstraints({ ...size(), frameRate: 30 });
    const s = v.getSettings();
    flash(bcStatus, `Capturing ${s.width}×${s.height}.`, 'info', 3000);
  } catch {
    flash(bcStatus, 'The source cannot do that resolution.', 'error');
  }
});
bitrate.addEventListener('change', () => {
  if (publisher) void publisher.setMaxBitrate(Number(bitrate.value)).then(() => flash(bcStatus, `Bitrate capped at ${formatKbps(Number(bitrate.value))}.`, 'info', 3000));
});
window.addEventListener('pagehide', () => {
  void publisher?.stop();
  stopMedia();
});
showPc('new');

// ---- Host controls: a host token, then the REST API.

const adminKey = $<HTMLInputElement>('admin-key');
const hostState = $('host-state');
const hostStatus = $('host-status');
const signout = $<HTMLButtonElement>('signout');
adminKey.value = remember('adminKey');

const token = () => client.session?.token;
/** Runs a host action; errors are shown in el. */
async function act(el: HTMLElement, method: string, path: string, body?: Record<string, unknown>): Promise<unknown> {
  if (!token()) {
    flash(el, 'Sign in as host first (admin key above).');
    return null;
  }
  try {
    const withTime = body === undefined ? { mediaTime: outputTime() } : body;
    return await api(method, roomPath(stream, path), { token: token(), body: withTime });
  } catch (err) {
    flash(el, (err as Error).message);
    return null;
  }
}

const pollStatus = $('poll-status');
const polls = $('poll-list');
const chatSlot = $('chat-slot');
const banList = $('ban-list');
const viewers = $('viewers');

const chatView = new ChatView({
  send: async (text) => {
    if (!token()) throw new Error('Sign in as host first.');
    await client.send(chat(text, outputTime()));
  },
  me: () => client.session?.viewer,
  moderate: {
    delete: (m: ChatMessage) => void act(chatSlot, 'DELETE', `/chat/${encodeURIComponent(m.id)}`),
    pin: (m: ChatMessage) => void act(chatSlot, 'PUT', '/pin', { id: m.id, mediaTime: outputTime() }),
    unpin: () => void act(chatSlot, 'DELETE', '/pin'),
    timeout: (m: ChatMessage, seconds: number) => void act(chatSlot, 'POST', '/bans', { viewer: m.viewer, seconds, mediaTime: outputTime() }),
    ban: (m: ChatMessage) => {
      if (confirm(`Ban ${m.name} from the chat?`)) void act(chatSlot, 'POST', '/bans', { viewer: m.viewer, mediaTime: outputTime() });
    },
  },
});
chatSlot.append(chatView.el);
const qaStatus = h('p', { class: 'form-status', role: 'alert', hidden: true });
const qa = new QaView({
  moderate: {
    approve: (q: QuestionView) => void act(qaStatus, 'POST', `/questions/${q.id}/approve`),
    hide: (q: QuestionView) => void act(qaStatus, 'POST', `/questions/${q.id}/hide`),
    answer: (q: QuestionView) => void act(qaStatus, 'POST', `/questions/${q.id}/answer`),
  },
});
$('qa-slot').append(qa.el, qaStatus);

function renderPolls(st: RoomState): void {
  const list = [...st.polls.values()].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
  if (list.length === 0) return fill(polls, h('li', { class: 'empty' }, 'No polls yet.'));
  const openOne = list.find((p) => p.status === 'open');
  fill(
    polls,
    list.map((p: PollView) =>
      h(
        'li',
        { class: `card inner poll-item status-${p.status}` },
        h('div', { class: 'card-head' }, h('span', { class: `pill ${p.status === 'open' ? 'live' : ''}` }, p.status), h('b', { class: 'grow' }, p.question)),
        resultBars(p),
        h('p', { class: 'poll-line' }, pollStatusLine(p, Date.now()), p.results === 'close' && p.status !== 'closed' ? ' (viewers see results at close)' : ''),
        h(
          'div',
          { class: 'actions' },
          p.status === 'draft'
            ? h('button', { type: 'button', class: 'btn small', disabled: !!openOne, title: openOne ? 'Close the open poll first' : '', onclick: () => void act(pollStatus, 'POST', `/polls/${p.id}/open`) }, 'Open')
            : null,
          p.status === 'open' ? h('button', { type: 'button', class: 'btn small danger', onclick: () => void act(pollStatus, 'POST', `/polls/${p.id}/close`) }, 'Close') : null,
        ),
      ),
    ),
  );
}

function renderBans(st: RoomState): void {
  $('ban-count').textContent = st.bans.size ? String(st.bans.size) : '';
  if (st.bans.size === 0) return fill(banList, h('li', { class: 'muted small' }, 'Nobody is banned.'));
  fill(
    banList,
    [...st.bans].map(([v, until]) =>
      h(
        'li',
        {},
        h('code', {}, v),
        ' ',
        until === 'permanent' ? 'banned' : `until ${new Date(until).toLocaleTimeString()}`,
        ' ',
        h('button', { type: 'button', class: 'icon-btn', onclick: () => void act(chatSlot, 'DELETE', `/bans/${encodeURIComponent(v)}`) }, 'Lift'),
      ),
    ),
  );
}

const slow = $<HTMLSelectElement>('slow');
// Spoiler-free chat: viewers' pages show each message when their picture reaches it.
const chatSync = h('input', { type: 'checkbox', id: 'chat-sync' });
slow.closest('label')!.after(h('label', { class: 'check', title: 'Each viewer sees a message when their video reaches the moment it was sent' }, chatSync, ' Spoiler-free chat'));
const client: RoomClient = new RoomClient({
  stream,
  role: 'host',
  render: (st, parts) => {
    chatView.render(st, parts);
    if (parts.has('poll')) renderPolls(st);
    if (parts.has('questions')) qa.render(st);
    if (parts.has('bans')) renderBans(st);
    if (parts.has('sync')) chatSync.checked = st.chatSync;
    if (parts.has('slow')) {
      if (![...slow.options].some((o) => o.value === String(st.slowMode))) slow.append(h('option', { value: String(st.slowMode) }, `${st.slowMode} s`));
      slow.value = String(st.slowMode);
    }
    if (parts.has('viewers')) {
      viewers.hidden = false;
      viewers.textContent = plural(st.viewers, 'viewer');
    }
  },
  status: (s) => {
    if (s === 'reconnecting') hostState.textContent = 'reconnecting…';
    else if (s === 'open') hostState.textContent = `host: ${client.session?.name ?? ''}`;
  },
});
client.channel.on('badtoken', () => signedOut('The host token was refused; sign in again.'));

/** Loads what the snapshot does not hold for staff: drafts, the queue, hidden questions. */
async function loadStaffLists(): Promise<void> {
  const t = token();
  if (!t) return;
  try {
    const [p, pending, hidden] = await Promise.all([
      api<{ polls: PollView[] }>('GET', roomPath(stream, '/polls'), { token: t }),
      api<{ questions: QuestionView[] }>('GET', roomPath(stream, '/questions?status=pending'), { token: t }),
      api<{ questions: QuestionView[] }>('GET', roomPath(stream, '/questions?status=hidden'), { token: t }),
    ]);
    for (const poll of p.polls) client.apply({ type: poll.status === 'draft' ? 'poll.created' : poll.status === 'open' ? 'poll.opened' : 'poll.closed', data: poll });
    for (const q of [...pending.questions, ...hidden.questions]) client.apply({ type: 'qa.question', data: q });
    client.invalidate('poll', 'questions');
  } catch (err) {
    flash(hostStatus, `Could not load the polls and questions: ${(err as Error).message}`);
  }
}
client.onSnapshot = () => void loadStaffLists();

function signedIn(): void {
  hostState.textContent = `host: ${client.session?.name ?? ''}`;
  hostState.classList.add('ok');
  signout.hidden = false;
  if (client.channel.status === 'idle') client.connect();
  else client.channel.reconnect();
}

function signedOut(why = ''): void {
  client.sessions.clear();
  client.session = null;
  hostState.textContent = 'signed out';
  hostState.classList.remove('ok');
  signout.hidden = true;
  if (why) flash(hostStatus, why, 'error', 0);
}

$('host-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const key = adminKey.value;
  if (!key) return flash(hostStatus, 'Enter the admin key (liveloop serve --admin-key).');
  try {
    const s = await newSession('host', 'host', key);
    remember('adminKey', key);
    client.setSession(s);
    flash(hostStatus, 'Signed in as host.', 'info', 3000);
    signedIn();
  } catch (err) {
    flash(hostStatus, `Could not sign in: ${(err as Error).message}`, 'error', 0);
  }
});
signout.addEventListener('click', () => {
  remember('adminKey', '');
  adminKey.value = '';
  client.channel.close();
  signedOut();
  location.reload();
});

slow.addEventListener('change', () => void act(chatSlot, 'PUT', '/slow-mode', { seconds: Number(slow.value), mediaTime: outputTime() }));
chatSync.addEventListener('change', () => {
  const want = chatSync.checked;
  chatSync.checked = client.state.chatSync; // the room's event sets it
  void act(chatSlot, 'PUT', '/chat-sync', { enabled: want, mediaTime: outputTime() });
});

$('poll-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const options = $<HTMLTextAreaElement>('poll-options')
    .value.split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  if (options.length < 2 || options.length > 10) return flash(pollStatus, 'A poll needs 2 to 10 options, one per line.');
  const multiple = $<HTMLInputElement>('poll-multiple').checked;
  const spec: Record<string, unknown> = {
    question: $<HTMLInputElement>('poll-question').value.trim(),
    options,
    multiple,
    changeable: $<HTMLInputElement>('poll-changeable').checked,
    results: $<HTMLSelectElement>('poll-results').value,
    open: $<HTMLInputElement>('poll-open').checked,
    mediaTime: outputTime(),
  };
  const max = Number($<HTMLInputElement>('poll-max').value);
  if (multiple && max > 0) spec['maxChoices'] = max;
  const duration = Number($<HTMLInputElement>('poll-duration').value);
  if (duration > 0) spec['duration'] = duration;
  if (await act(pollStatus, 'POST', '/polls', spec)) {
    ($('poll-form') as HTMLFormElement).reset();
    ($('poll-new') as HTMLDetailsElement).open = false;
    flash(pollStatus, 'Poll created.', 'info', 2500);
  }
});

$('cue-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const status = $('cue-status');
  const type = $<HTMLInputElement>('cue-type').value.trim();
  const raw = $<HTMLTextAreaElement>('cue-data').value.trim();
  let data: unknown;
  try {
    data = raw ? JSON.parse(raw) : undefined;
  } catch (err) {
    return flash(status, `The data is not JSON: ${(err as Error).message}`);
  }
  try {
    const r = await api<{ id: string; mediaTime: number }>('POST', `/api/v1/streams/${encodeURIComponent(stream)}/cues`, { token: token(), body: data === undefined ? { type } : { type, data } });
    flash(status, `Cue ${r.id} stamped at media time ${r.mediaTime.toFixed(3)} s.`, 'info', 8000);
  } catch (err) {
    const code = (err as { code?: string }).code;
    flash(status, code === 'not_live' ? 'The stream is not live: a cue needs media to be stamped on.' : (err as Error).message);
  }
});

qa.render(client.state);
renderPolls(client.state);
renderBans(client.state);
chatView.render(client.state, new Set(['chat']));
if (client.session) signedIn();
else flash(hostStatus, 'Enter the admin key (liveloop serve --admin-key) to run polls and moderate the chat and Q&A.', 'info', 0);
