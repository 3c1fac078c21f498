package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// sendPair returns a server connection (made with opt) and a client
// connected to it.
func sendPair(t *testing.T, opt Options) (srv, cli *Conn) {
	t.Helper()
	conns := make(chan *Conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, opt)
		if err != nil {
			t.Error(err)
			return
		}
		conns <- c
	}))
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, err := Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/x", Options{MaxMessage: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv = <-conns
	t.Cleanup(func() {
		srv.Close(CloseNormal, "")
		cli.Close(CloseNormal, "")
	})
	return srv, cli
}

// TestSendQueuesForASlowClient sends frames to a client that does not
// read until the socket is full: Send queues the rest without blocking,
// refuses frames past MaxQueued and signals Pending; Flush delivers every
// accepted frame, whole and in order, and a blocking write comes after
// them.
func TestSendQueuesForASlowClient(t *testing.T) {
	const maxQueued = 8
	srv, cli := sendPair(t, Options{MaxQueued: maxQueued})
	payload := bytes.Repeat([]byte("x"), 32<<10)
	var want []string
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("the socket never filled")
		}
		msg := append([]byte(fmt.Sprintf("%06d:", i)), payload...)
		err := srv.Send(AppendFrame(nil, OpText, msg))
		if errors.Is(err, ErrQueueFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, string(msg[:7]))
	}
	if n, b := srv.Queued(); n != maxQueued || b <= (maxQueued-1)*len(payload) {
		t.Fatalf("queued %d frames, %d bytes; want %d frames", n, b, maxQueued)
	}
	select {
	case <-srv.Pending():
	default:
		t.Fatal("Pending not signalled")
	}
	done := make(chan error, 1)
	go func() {
		if err := srv.Flush(); err != nil {
			done <- err
			return
		}
		done <- srv.WriteText([]byte("blocking"))
	}()
	want = append(want, "blocking")
	for i, w := range want {
		_, msg, err := cli.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got := string(msg[:min(len(msg), len(w))]); got != w || (w != "blocking" && len(msg) != 7+len(payload)) {
			t.Fatalf("message %d = %q (%d bytes), want %q", i, got, len(msg), w)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, b := srv.Queued(); n != 0 || b != 0 {
		t.Fatalf("after Flush: %d frames, %d bytes queued", n, b)
	}
	// The connection is idle again: Send writes at once.
	if err := srv.Send(AppendFrame(nil, OpText, []byte("after"))); err != nil {
		t.Fatal(err)
	}
	if n, _ := srv.Queued(); n != 0 {
		t.Fatalf("an idle connection queued %d frames", n)
	}
	if _, msg, err := cli.ReadMessage(); err != nil || string(msg) != "after" {
		t.Fatalf("after: %q, %v", msg, err)
	}
}

// TestSendAfterClose: Send on a closed connection fails at once.
func TestSendAfterClose(t *testing.T) {
	srv, cli := sendPair(t, Options{})
	if err := srv.Send(AppendFrame(nil, OpText, []byte("one"))); err != nil {
		t.Fatal(err)
	}
	srv.Close(CloseGoingAway, "bye")
	if err := srv.Send(AppendFrame(nil, OpText, []byte("two"))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if _, msg, err := cli.ReadMessage(); err != nil || string(msg) != "one" {
		t.Fatalf("first: %q, %v", msg, err)
	}
	var ce *CloseError
	if _, _, err := cli.ReadMessage(); !errors.As(err, &ce) || ce.Code != CloseGoingAway {
		t.Fatalf("then %v, want close 1001", err)
	}
}
