package interact

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Two nodes on one JetStream: votes through both while one closes the
// poll. Each vote's verdict comes from the log order, so both nodes hold
// the same tally, equal to the votes acknowledged; late votes get
// poll_closed on whichever node took them.
func TestTwoNodesAgreeOnCloseVersusVotes(t *testing.T) {
	a := startNode(t, t.TempDir(), nil)
	b, err := New(context.Background(), Config{NATS: a.bus.Conn(), JetStream: a.bus.JetStream(), NodeID: "n2"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	id := mustDo(t, a.rooms, host, Command{Type: CmdPollCreate, Poll: &PollSpec{Question: "Q", Options: []string{"a", "b"}, Open: true}}).ID
	var acked, closed atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs := []*Rooms{a.rooms, b}[w%2]
			for i := range 100 {
				_, err := rs.Do(ctx(t), "s", viewer(w*1000+i), Command{Type: CmdVote, ID: id, Choices: []int{i % 2}})
				switch {
				case err == nil:
					acked.Add(1)
				case errors.Is(err, ErrPollClosed):
					closed.Add(1)
				default:
					t.Error(err)
				}
				if w == 0 && i == 50 {
					// Close from the other node while votes flow.
					if _, err := b.Do(ctx(t), "s", host, Command{Type: CmdPollClose, ID: id}); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	pa, _ := a.rooms.Poll(ctx(t), "s", id, true)
	pb, _ := b.Poll(ctx(t), "s", id, true)
	if *pa.Voters != int(acked.Load()) || *pb.Voters != *pa.Voters || fmt.Sprint(pa.Tally) != fmt.Sprint(pb.Tally) {
		t.Fatalf("node a %v/%d, node b %v/%d, acked %d", pa.Tally, *pa.Voters, pb.Tally, *pb.Voters, acked.Load())
	}
	if closed.Load() == 0 {
		t.Fatal("no vote came after the close")
	}
	// Both nodes race to close again: one wins, the other is told.
	_, e1 := a.rooms.Do(ctx(t), "s", host, Command{Type: CmdPollClose, ID: id})
	wantErr(t, e1, ErrPollClosed)
	// Rules changed on one node are checked on the other (ctl subject).
	id2 := mustDo(t, a.rooms, host, Command{Type: CmdPollCreate, Poll: &PollSpec{Question: "Q2", Options: []string{"a", "b"}}}).ID
	id3 := mustDo(t, b, host, Command{Type: CmdPollCreate, Poll: &PollSpec{Question: "Q3", Options: []string{"a", "b"}}}).ID
	var opened atomic.Int64
	var wg2 sync.WaitGroup
	for i, rs := range []*Rooms{a.rooms, b} {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			if _, err := rs.Do(ctx(t), "s", host, Command{Type: CmdPollOpen, ID: []string{id2, id3}[i]}); err == nil {
				opened.Add(1)
			} else if !errors.Is(err, ErrConflict) {
				t.Error(err)
			}
		}()
	}
	wg2.Wait()
	if opened.Load() != 1 {
		t.Fatalf("%d polls open at once", opened.Load())
	}
}

func TestHoldAndDeleteBeforeRelease(t *testing.T) {
	n := startNode(t, t.TempDir(), func(c *Config) { c.Hold = 400 * time.Millisecond })
	rs := n.rooms
	pub, err := rs.Subscribe(ctx(t), "s", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	keep := mustDo(t, rs, viewer(1), Command{Type: CmdChatSend, Text: "fine"}).ID
	drop := mustDo(t, rs, viewer(2), Command{Type: CmdChatSend, Text: "nasty"}).ID
	staff, _ := rs.Snapshot(ctx(t), "s", true)
	public, _ := rs.Snapshot(ctx(t), "s", false)
	if len(staff.Chat) != 2 || len(public.Chat) != 0 {
		t.Fatalf("held: staff sees %d, public %d", len(staff.Chat), len(public.Chat))
	}
	mustDo(t, rs, mod, Command{Type: CmdChatDelete, ID: drop})
	timeout := time.After(10 * time.Second)
	for {
		select {
		case b := <-pub.C():
			var m struct {
				Events []struct {
					Type string
					Data ChatMessage
				}
			}
			json.Unmarshal(pub.Filter(b), &m)
			for _, e := range m.Events {
				if e.Type == "chat.message" && e.Data.ID == drop {
					t.Fatal("deleted held message reached viewers")
				}
				if e.Type == "chat.message" && e.Data.ID == keep {
					public, _ = rs.Snapshot(ctx(t), "s", false)
					if len(public.Chat) != 1 || public.Chat[0].ID != keep {
						t.Fatalf("after release: %+v", public.Chat)
					}
					return
				}
			}
		case <-timeout:
			t.Fatal("held message never released")
		}
	}
}

func TestReviewHook(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Text string }
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		calls[body.Text]++
		mu.Unlock()
		switch body.Text {
		case "slow":
			<-r.Context().Done()
		case "bad":
			fmt.Fprint(w, `{"allow":false}`)
		default:
			fmt.Fprint(w, `{"allow":true}`)
		}
	}))
	defer srv.Close()
	for _, fallback := range []bool{true, false} {
		n := startNode(t, t.TempDir(), func(c *Config) {
			c.Review = &Review{URL: srv.URL, Timeout: 100 * time.Millisecond, Fallback: fallback}
		})
		mustDo(t, n.rooms, viewer(1), Command{Type: CmdChatSend, Text: "good"})
		_, err := n.rooms.Do(ctx(t), "s", viewer(1), Command{Type: CmdChatSend, Text: "bad"})
		wantErr(t, err, ErrRejected)
		_, err = n.rooms.Do(ctx(t), "s", viewer(1), Command{Type: CmdChatSend, Text: "slow"})
		if (err == nil) != fallback {
			t.Fatalf("fallback %v: slow review gave %v", fallback, err)
		}
		mustDo(t, n.rooms, mod, Command{Type: CmdChatSend, Text: "bad"}) // staff are not reviewed
		n.stop()
	}
	// "good" and "bad" from the viewer are reviewed once per run; the
	// moderator's "bad" is not. (Whether a "slow" review reached the
	// server before the client gave up depends on scheduling.)
	mu.Lock()
	defer mu.Unlock()
	if calls["good"] != 2 || calls["bad"] != 2 || calls["slow"] > 2 {
		t.Fatalf("reviews by text: %v, want good 2, bad 2 (staff are not reviewed)", calls)
	}
}

// TestBusyRefusesAtOnce holds one command in flight (its review hangs)
// with MaxInFlight 1: the next is refused with ErrBusy at once, nothing is
// appended for it, and once the first is answered commands pass again.
func TestBusyRefusesAtOnce(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		fmt.Fprint(w, `{"allow":true}`)
	}))
	defer srv.Close()
	n := startNode(t, t.TempDir(), func(c *Config) {
		c.MaxInFlight = 1
		c.Review = &Review{URL: srv.URL, Timeout: 10 * time.Second}
	})
	mustDo(t, n.rooms, host, Command{Type: CmdSlowMode}) // start the room
	first := make(chan error, 1)
	go func() {
		_, err := n.rooms.Do(ctx(t), "s", viewer(1), Command{Type: CmdChatSend, Text: "held", Key: "a"})
		first <- err
	}()
	<-entered
	t0 := time.Now()
	_, err := n.rooms.Do(ctx(t), "s", viewer(2), Command{Type: CmdChatSend, Text: "second", Key: "b"})
	wantErr(t, err, ErrBusy)
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("busy refusal took %v", d)
	}
	if got := n.rooms.Metrics().Busy; got != 1 {
		t.Fatalf("busy metric %d, want 1", got)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The refused command left no trace: the same key now goes through.
	mustDo(t, n.rooms, viewer(2), Command{Type: CmdChatSend, Text: "second", Key: "b"})
	snap, err := n.rooms.Snapshot(ctx(t), "s", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Chat) != 2 {
		t.Fatalf("chat has %d messages, want 2", len(snap.Chat))
	}
}
