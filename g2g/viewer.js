// Injected into the watch page before its own scripts (CFG is set by the
// caller). For every frame the <video> presents (requestVideoFrameCallback),
// it copies the barcode's region to a canvas, decodes the capture stamp (see
// barcode.go for the layout) and records when the frame is expected on screen
// (ms since the page's time origin, i.e. navigation start) and the
// glass-to-glass delay: time origin + expectedDisplayTime - capture instant.
(function (CFG) {
  if (!location.pathname.startsWith('/watch/')) return;
  const L = CFG.layout;
  const rows = Math.ceil(CFG.bits / L.cols);
  const W = L.cols * L.block;
  const H = rows * L.block;
  const st = {
    firstFrame: null, // expectedDisplayTime of the first frame presented, ms
    firstDecoded: null, // ... of the first frame with a valid barcode
    frames: 0,
    undecoded: 0,
    wrongSize: 0, // frames not of the published size (not read)
    lastUnread: null, // {size, bits} of the last frame that did not read, for diagnosis
    samples: [], // [shownMs, g2gMs, seq]
    // Date.now() - (performance.timeOrigin + performance.now()): how far the
    // page's high-resolution clock, which the samples use, is from the
    // system clock, which the publisher uses; ms, at the first and last sample.
    skew: [],
  };
  let canvas, ctx, waiter;

  // The startup timeline (ms since navigation start): the first time each
  // step happens, to see where the time to the first frame goes.
  const marks = {};
  const mark = (k) => {
    if (!(k in marks)) marks[k] = Math.round(performance.now() * 10) / 10;
  };
  st.marks = marks;
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...a) {
      super(...a);
      mark('wsCreate');
      this.addEventListener('open', () => mark('wsOpen'));
      this.addEventListener('message', (e) => mark(typeof e.data === 'string' ? 'wsFirstText' : 'wsFirstBinary'));
    }
  };
  const MS = window.MediaSource;
  if (MS) {
    const add = MS.prototype.addSourceBuffer;
    MS.prototype.addSourceBuffer = function (...a) {
      mark('addSourceBuffer');
      const sb = add.apply(this, a);
      let n = 0;
      sb.addEventListener('updateend', () => {
        n++;
        mark('appendEnd' + Math.min(n, 3));
      });
      return sb;
    };
  }
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    mark('play');
    return play.call(this);
  };
  document.addEventListener('DOMContentLoaded', () => mark('domContentLoaded'));
  for (const ev of ['loadedmetadata', 'loadeddata', 'seeking', 'seeked', 'playing']) {
    document.addEventListener(ev, () => mark(ev), { capture: true });
  }

  const crc16 = (b) => {
    let c = 0xffff;
    for (const x of b) {
      c ^= x << 8;
      for (let i = 0; i < 8; i++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    }
    return c;
  };

  const decode = (video) => {
    if (!canvas) {
      canvas = document.createElement('canvas');
      canvas.width = W;
      canvas.height = H;
      ctx = canvas.getContext('2d', { willReadFrequently: true });
    }
    if (video.videoWidth !== CFG.width || video.videoHeight !== CFG.height) {
      st.wrongSize++;
      st.lastUnread = { size: `${video.videoWidth}x${video.videoHeight}` };
      return null;
    }
    ctx.drawImage(video, L.x, L.y, W, H, 0, 0, W, H);
    const d = ctx.getImageData(0, 0, W, H).data;
    const bytes = new Uint8Array(CFG.bits / 8);
    const q = L.block >> 2;
    for (let i = 0; i < CFG.bits; i++) {
      const bx = (i % L.cols) * L.block;
      const by = Math.floor(i / L.cols) * L.block;
      let sum = 0;
      let n = 0;
      for (let r = by + q; r < by + L.block - q; r++) {
        for (let c = bx + q; c < bx + L.block - q; c++) {
          const o = (r * W + c) * 4;
          sum += (77 * d[o] + 150 * d[o + 1] + 29 * d[o + 2]) >> 8;
          n++;
        }
      }
      if (sum > n * 128) bytes[i >> 3] |= 1 << (7 - (i & 7));
    }
    if (crc16(bytes.subarray(0, 8)) !== ((bytes[8] << 8) | bytes[9])) {
      st.lastUnread = { size: `${video.videoWidth}x${video.videoHeight}`, bits: Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('') };
      return null;
    }
    let ms = 0;
    for (let i = 0; i < 6; i++) ms = ms * 256 + bytes[i];
    return { ms, seq: (bytes[6] << 8) | bytes[7] };
  };

  const skew = () => Date.now() - (performance.timeOrigin + performance.now());
  const result = () => {
    const p = window.liveloop;
    const nav = performance.getEntriesByType('navigation')[0];
    if (nav) for (const k of ['requestStart', 'responseEnd', 'domInteractive']) marks['nav.' + k] = Math.round(nav[k] * 10) / 10;
    for (const r of performance.getEntriesByType('resource')) {
      if (r.name.endsWith('.js')) marks['script.responseEnd'] = Math.round(r.responseEnd * 10) / 10;
    }
    st.skew.push(skew());
    return { ...st, player: p ? p.stats() : null };
  };

  const onFrame = (video) => (_now, md) => {
    video.requestVideoFrameCallback(onFrame(video));
    const shown = md.expectedDisplayTime;
    mark('firstFrameCallback');
    st.frames++;
    if (st.firstFrame === null) st.firstFrame = shown;
    const code = decode(video);
    if (!code) {
      st.undecoded++;
      return;
    }
    if (st.firstDecoded === null) {
      st.firstDecoded = shown;
      st.skew.push(skew());
    }
    st.samples.push([shown, performance.timeOrigin + shown - code.ms, code.seq]);
    if (waiter && shown - st.firstDecoded >= waiter.ms) {
      waiter.resolve(result());
      waiter = undefined;
    }
  };

  // When the player (if the page has one) reports a stall, ms after navigation start.
  st.stallsAt = [];
  const watchPlayer = () => {
    const p = window.liveloop && window.liveloop.player;
    if (!p) return false;
    p.on('state', (s) => s === 'stalled' && st.stallsAt.push(Math.round(performance.now())));
    return true;
  };
  document.addEventListener('DOMContentLoaded', () => watchPlayer() || setTimeout(watchPlayer, 0));

  const attach = () => {
    const video = document.querySelector('video');
    if (!video) return false;
    video.requestVideoFrameCallback(onFrame(video));
    return true;
  };
  if (!attach()) {
    const mo = new MutationObserver(() => attach() && mo.disconnect());
    mo.observe(document, { childList: true, subtree: true });
  }

  // collect resolves with the results once durationMs of frames have been
  // decoded after the first, or after timeoutMs with timedOut set.
  window.__g2g = {
    state: st,
    collect: (durationMs, timeoutMs) =>
      new Promise((resolve) => {
        waiter = { ms: durationMs, resolve };
        setTimeout(() => {
          if (!waiter) return;
          waiter = undefined;
          resolve({ ...result(), timedOut: true });
        }, timeoutMs);
      }),
  };
})
