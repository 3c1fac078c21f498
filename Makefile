# Liveloop. `make test` runs every test; `make run` starts a server with the
# demo stream.
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/liveloop/liveloop/server.Version=$(VERSION)

.PHONY: all build run test deps vet lint gotest web web-check fuzz bench load demo-clip clean

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
# viewer, delivery latency, startup, memory (see cmd/liveloop-load).
load: build
	./bin/liveloop-load --server-bin ./bin/liveloop --viewers 1,100,500 --duration 20s

# Regenerate the embedded demo clip (needs ffmpeg).
demo-clip:
	./demo/clip.sh

clean:
	rm -rf bin
