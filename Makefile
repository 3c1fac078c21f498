# Liveloop. `make test` runs every test; `make run` starts a server with the
# demo stream.
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/liveloop/liveloop/server.Version=$(VERSION)

.PHONY: all build run test deps vet lint gotest web web-check fuzz bench load load-floor load-hls load-hls-floor load-whep load-room load-room-floor demo-clip clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/liveloop ./cmd/liveloop
	$(GO) build -o bin/liveloop-load ./cmd/liveloop-load

run:
	$(GO) run ./cmd/liveloop serve --demo

# Everything CI checks: dependencies, vet, staticcheck, the Go tests with the
# race detector (real ffmpeg, real Chromium), the web player's tests, and
# that the committed web build is up to date.
test: deps vet lint gotest web-check

deps:
	./.ci/deps

vet:
	$(GO) vet ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt would change these files: run gofmt -w"; exit 1; }
	$(GO) tool staticcheck ./...

gotest:
	$(GO) test -race -count=1 -timeout 20m ./...

# Rebuild the web assets (web/dist, committed and embedded in the binary).
web:
	cd web && npm run build

# Type-check and test the player, rebuild it, and fail if the committed
# build differs from what the sources produce.
web-check:
	cd web && npm run check
	@git diff --quiet -- web/dist || { git --no-pager diff --stat -- web/dist; echo "web/dist is stale: run 'make web' and commit it"; exit 1; }
	@test -z "$$(git ls-files --others --exclude-standard -- web/dist)" || { echo "web/dist has uncommitted files: run 'make web' and commit them"; exit 1; }

# Run every fuzz target for FUZZTIME each (default 20s).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./hub ./fmp4 ./deliver/...

# The server under load: one RTMP publisher and N WebSocket viewers, CPU per
# viewer, delivery latency, startup, memory (see cmd/liveloop-load), with the
# issue's source: 720p30 H.264 at 2.5 Mbit/s and AAC. load-floor measures a
# bare process making the same writes, the floor the server stands on.
LOAD_CLIP := bin/load-720p30-2500k.flv
load: build $(LOAD_CLIP)
	./bin/liveloop-load --server-bin ./bin/liveloop --clip $(LOAD_CLIP) --bitrate 2.5M --viewers 1,100,500 --duration 20s

load-floor: build $(LOAD_CLIP)
	./bin/liveloop-load --mode floor --clip $(LOAD_CLIP) --viewers 100,500 --duration 20s

# LL-HLS: the server's figure (load-hls) and the floor under it (load-hls-floor):
# the same LL-HLS viewers against a bare process that answers each viewer's
# blocking reload and part request per part with one write each.
load-hls: build $(LOAD_CLIP)
	./bin/liveloop-load --server-bin ./bin/liveloop --mode hls --clip $(LOAD_CLIP) --bitrate 2.5M --viewers 500,1000 --duration 15s

load-hls-floor: build $(LOAD_CLIP)
	./bin/liveloop-load --mode hls-floor --clip $(LOAD_CLIP) --viewers 500,1000,2000 --ramp 200 --duration 15s

# WebRTC: 100 WHEP viewers (pion) of the 2.5 Mbit/s clip with Opus audio.
load-whep: build $(LOAD_CLIP)
	./bin/liveloop-load --server-bin ./bin/liveloop --mode whep --clip $(LOAD_CLIP) --bitrate 2.5M --viewers 100 --duration 20s

# Rooms: the host's marker reaching 10,000 viewer channels, then 1,000
# viewers voting 20,000 times a second.
load-room: build
	./bin/liveloop-load --server-bin ./bin/liveloop --mode room --viewers 10000 --mark-interval 500ms --ramp 500 --duration 20s
	./bin/liveloop-load --server-bin ./bin/liveloop --mode room --viewers 1000 --vote-rate 20000 --duration 20s

# The room's fan-out floor: 10,000 of the room mode's readers against a bare
# process writing each a marker-sized WebSocket frame every 500 ms, from one
# goroutine per CPU (the room mode's figure: --mode room --viewers 10000
# --mark-interval 500ms --ramp 500 --duration 20s).
load-room-floor: build
	./bin/liveloop-load --mode room-floor --viewers 10000 --mark-interval 500ms --ramp 500 --duration 20s

$(LOAD_CLIP):
	@mkdir -p bin
	ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 \
	  -f lavfi -i sine=frequency=440:sample_rate=48000 -t 20 \
	  -c:v libx264 -preset veryfast -b:v 2500k -minrate 2500k -maxrate 2500k -bufsize 2500k \
	  -x264-params nal-hrd=cbr:keyint=60:min-keyint=60:scenecut=0 -bf 0 \
	  -c:a aac -b:a 128k -f flv $@

# Regenerate the embedded demo clip (needs ffmpeg).
demo-clip:
	./demo/clip.sh

clean:
	rm -rf bin
