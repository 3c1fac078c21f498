// Package testserver runs a real Liveloop node inside a test: on free
// loopback ports, with its state in the test's temporary directory, stopped
// (and waited for) when the test ends.
package testserver

import (
	"context"
	"testing"

	"github.com/liveloop/liveloop/config"
	"github.com/liveloop/liveloop/server"
)

// Start runs a server made from config.Ephemeral, changed by mod if it is
// not nil. Cleanups the test registered before Start run after the server
// has stopped.
func Start(t testing.TB, mod func(*config.Config)) *server.Server {
	t.Helper()
	cfg := config.Ephemeral(t.TempDir())
	cfg.LogLevel = "warn"
	if mod != nil {
		mod(&cfg)
	}
	srv, err := server.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server Run: %v", err)
		}
	})
	return srv
}
