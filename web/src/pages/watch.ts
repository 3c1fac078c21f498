/**
 * The watch page, served at /watch/{stream}: one <video>, a stats overlay,
 * an unmute button. Exposes the player as window.liveloop for tests and
 * tools, and re-dispatches every cue the player shows as a `liveloop:cue`
 * CustomEvent on window (detail: the cue).
 */
import { Player, type PlayerState, type PlayerStats } from '../player/index.js';
import type { Cue } from '../player/cues.js';
import { formatKbps, formatMs, parseWatchLocation } from './location.js';

declare global {
  interface Window {
    liveloop?: { player: Player; stats: () => PlayerStats; target: ReturnType<typeof parseWatchLocation> };
  }
  interface WindowEventMap {
    'liveloop:cue': CustomEvent<Cue>;
  }
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`watch page: #${id} is missing`);
  return el as T;
};

const NOTICES: Partial<Record<PlayerState, string>> = {
  connecting: 'Connecting…',
  offline: 'This stream is offline. Retrying…',
  waiting: 'Waiting for the broadcaster…',
  reconnecting: 'Reconnecting…',
  ended: 'The stream has ended.',
  error: 'Playback failed.',
};

function main(): void {
  const target = parseWatchLocation(location.pathname, location.search);
  const video = document.querySelector('video') as HTMLVideoElement;
  const badge = $('badge');
  const notice = $('notice');
  const unmute = $<HTMLButtonElement>('unmute');
  const statsEl = $('stats');
  const statsToggle = $<HTMLButtonElement>('stats-toggle');
  const fields = new Map<string, HTMLElement>();
  for (const dd of statsEl.querySelectorAll<HTMLElement>('dd[data-k]')) fields.set(dd.dataset['k']!, dd);
  const set = (k: string, v: string) => {
    const el = fields.get(k);
    if (el && el.textContent !== v) el.textContent = v;
  };

  $('title').textContent = target.stream;
  document.title = `${target.stream} · Liveloop`;
  video.muted = true; // autoplay with sound is blocked; the viewer unmutes

  const player = new Player(video, {
    stream: target.stream,
    transport: target.transport,
    ...(target.targetLatency !== undefined ? { targetLatency: target.targetLatency } : {}),
  });
  window.liveloop = { player, stats: () => player.stats(), target };

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
  player.on('cue', (cue) => {
    window.dispatchEvent(new CustomEvent('liveloop:cue', { detail: cue }));
  });

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

  statsToggle.addEventListener('click', () => {
    statsEl.hidden = !statsEl.hidden;
    statsToggle.setAttribute('aria-expanded', String(!statsEl.hidden));
  });

  showState(player.state);
  render();
  void player.play().catch(() => undefined);
}

main();
