// Package web holds Liveloop's browser side: the real-time player, the watch
// page and the landing page, written in TypeScript under web/src and built
// with esbuild into web/dist. The build output is committed, so a plain
// `go build` embeds it without Node; `cd web && npm ci && npm run build`
// refreshes it.
//
// The server serves Dist's dist/ directory at /assets/ and the HTML pages at
// their routes: dist/index.html at /, dist/watch.html at /watch/{stream}.
package web

import "embed"

// Dist is the built web assets: dist/index.html, dist/watch.html,
// dist/player.js (the watch page bundle), dist/liveloop-player.js (the Player
// library as an ES module, for embedding in other sites) and dist/style.css.
// Use fs.Sub(Dist, "dist") to serve them.
//
//go:embed dist
var Dist embed.FS
