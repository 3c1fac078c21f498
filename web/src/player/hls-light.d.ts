// hls.js ships types for its full build only; the light build (no
// subtitles, alternate audio, DRM or interstitials, which Liveloop does not
// use) has the same API.
declare module 'hls.js/light' {
  import Hls from 'hls.js';
  export default Hls;
  export * from 'hls.js';
}
