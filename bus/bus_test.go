package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStartStop(t *testing.T) {
	for _, listen := range []string{"", ListenNone, "127.0.0.1:0"} {
		t.Run("listen="+listen, func(t *testing.T) {
			b, err := New(Config{DataDir: t.TempDir(), Listen: listen})
			if err != nil {
				t.Fatal(err)
			}
			if !b.Embedded() {
				t.Error("Embedded() = false")
			}
			if got := b.ClientURL(); (got == "") != (listen == ListenNone) {
				t.Errorf("ClientURL() = %q with Listen %q", got, listen)
			}
			if !b.Conn().IsConnected() {
				t.Error("not connected")
			}
			if _, err := b.JetStream().AccountInfo(ctxT(t)); err != nil {
				t.Error(err)
			}
			if err := b.Close(); err != nil {
				t.Error(err)
			}
			if !b.Conn().IsClosed() {
				t.Error("connection not closed after Close")
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {DataDir: t.TempDir(), Listen: "nope"}, {DataDir: t.TempDir(), Listen: "127.0.0.1:x"}} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
}

func TestDataSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b, err := New(Config{DataDir: dir, Listen: ListenNone})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if _, err := b.JetStream().CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := b.JetStream().Publish(ctx, "t.x", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b, err = New(Config{DataDir: dir, Listen: ListenNone})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := b.JetStream().Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 10 {
		t.Fatalf("after restart: %d messages, want 10", n)
	}
	m, err := s.GetLastMsgForSubject(ctx, "t.x")
	if err != nil {
		t.Fatal(err)
	}
	if m.Sequence != 10 || len(m.Data) != 1 || m.Data[0] != 9 {
		t.Fatalf("last message = seq %d %v", m.Sequence, m.Data)
	}
}

func TestExternalURL(t *testing.T) {
	ext, err := New(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	b, err := New(Config{URL: ext.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	if b.Embedded() || b.ClientURL() != "" {
		t.Error("external bus claims an embedded server")
	}
	ctx := ctxT(t)
	if _, err := b.JetStream().CreateStream(ctx, jetstream.StreamConfig{Name: "X", Subjects: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JetStream().Publish(ctx, "x", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The message is in the other server's store.
	s, err := ext.JetStream().Stream(ctx, "X")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("external server holds %d messages, want 1", n)
	}
}
