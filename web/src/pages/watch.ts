/**
 * The watch page, served at /watch/{stream}: one <video>, a stats overlay,
 * an unmute button, and beside it the room (chat, poll, Q&A, reactions).
 *
 * This is the page's first module, and it is kept to what the first frame
 * needs: it is loaded `async` (so it runs as soon as it arrives, without
 * waiting for the stylesheet), creates the Player and opens its transport
 * at once, and only after the first frame (see defer.ts) imports the second
 * chunk, watch-ui.ts: the stats overlay's updates and the room, which is
 * most of the page's code.
 *
 * Exposes the player as window.liveloop for tests and tools, and
 * re-dispatches every cue the player shows as a `liveloop:cue`
 * CustomEvent on window (detail: the cue); the room listens to those.
 */
import { Player, type PlayerState, type PlayerStats } from '../player/index.js';
import type { Cue } from '../player/cues.js';
import { afterFirstFrame } from './defer.js';
import { parseWatchLocation } from './location.js';

declare global {
  interface Window {
    liveloop?: { player: Player; stats: () => PlayerStats; target: ReturnType<typeof parseWatchLocation> };
  }
  interface WindowEventMap {
    'liveloop:cue': CustomEvent<Cue>;
  }
}

/** The longest the room waits for the first frame before it loads anyway, ms. */
const UI_MAX_WAIT_MS = 1500;
/** The longest it then waits for the main thread to be idle, ms. */
const UI_IDLE_WAIT_MS = 500;

const NOTICES: Partial<Record<PlayerState, string>> = {
  connecting: 'Connecting…',
  offline: 'This stream is offline. Retrying…',
  waiting: 'Waiting for the broadcaster…',
  reconnecting: 'Reconnecting…',
  ended: 'The stream has ended.',
  error: 'Playback failed.',
};

const byId = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function main(): void {
  const target = parseWatchLocation(location.pathname, location.search);
  const video = document.querySelector('video') as HTMLVideoElement;
  video.muted = true; // autoplay with sound is blocked; the viewer unmutes

  // The player first: its transport opens as soon as its listeners are on.
  const player = new Player(video, {
    stream: target.stream,
    transport: target.transport,
    ...(target.targetLatency !== undefined ? { targetLatency: target.targetLatency } : {}),
  });
  window.liveloop = { player, stats: () => player.stats(), target };
  player.on('cue', (cue) => {
    window.dispatchEvent(new CustomEvent('liveloop:cue', { detail: cue }));
  });
  const badge = byId('badge');
  const notice = byId('notice');
  let lastError = '';
  const showState = (s: PlayerState) => {
    badge.dataset['state'] = s;
    badge.textContent = s === 'playing' ? 'live' : s;
    const text = s === 'error' && lastError ? `Playback failed: ${lastError}` : NOTICES[s];
    const msg = [text, target.note].filter(Boolean).join(' — ');
    notice.hidden = !msg || (s === 'playing' && !text);
    notice.textContent = msg;
    if (s === 'playing' && target.note) notice.hidden = true;
  };
  player.on('state', showState);
  player.on('error', (e) => {
    lastError = e.message;
    if (e.code === 'autoplay_blocked') {
      notice.hidden = false;
      notice.textContent = 'Click to play';
    }
  });
  showState(player.state);
  const firstFrame = player.play();
  firstFrame.catch(() => undefined);

  byId('title').textContent = target.stream;
  document.title = `${target.stream} · Liveloop`;

  // The controls on the picture work from the start (they are a few lines).
  const unmute = byId<HTMLButtonElement>('unmute');
  const syncMute = () => {
    unmute.textContent = video.muted ? 'Unmute' : 'Mute';
    unmute.setAttribute('aria-pressed', String(!video.muted));
  };
  unmute.addEventListener('click', () => {
    video.muted = !video.muted;
    if (video.paused) void video.play().catch(() => undefined);
  });
  video.addEventListener('volumechange', syncMute);
  video.addEventListener('click', () => {
    if (video.paused) void video.play().catch(() => undefined);
  });
  syncMute();

  const statsEl = byId('stats');
  const statsToggle = byId<HTMLButtonElement>('stats-toggle');
  // On a phone the stats would cover the picture: start with them folded.
  if (typeof matchMedia === 'function' && matchMedia('(max-width: 640px)').matches) {
    statsEl.hidden = true;
    statsToggle.setAttribute('aria-expanded', 'false');
  }
  statsToggle.addEventListener('click', () => {
    statsEl.hidden = !statsEl.hidden;
    statsToggle.setAttribute('aria-expanded', String(!statsEl.hidden));
  });

  // The rest of the page once the picture is up, in the main thread's idle
  // time (the player catches up to its target in the first second).
  const idle = (fn: () => void) =>
    typeof requestIdleCallback === 'function' ? requestIdleCallback(fn, { timeout: UI_IDLE_WAIT_MS }) : setTimeout(fn, 0);
  afterFirstFrame(
    { firstFrame, onState: (fn) => player.on('state', fn) },
    () =>
      idle(() => {
        void import('./watch-ui.js').then(
          (ui) => ui.mount(player, target.stream),
          (err: unknown) => console.error('liveloop: loading the room failed', err),
        );
      }),
    UI_MAX_WAIT_MS,
  );
}

// The script is async: it may run before the parser reaches the body.
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main, { once: true });
else main();
