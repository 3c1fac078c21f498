package interact

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

// sinkRec is a Sink that records the chat texts it is sent, in order,
// and fails once told to.
type sinkRec struct {
	mu     sync.Mutex
	texts  []string
	framed int
	fail   bool
	got    chan struct{} // signalled on every Send
}

func (s *sinkRec) Send(msg, frame []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("sink closed")
	}
	if frame != nil {
		s.framed++
	}
	var m struct {
		Events []struct {
			Type string
			Data struct{ Text string }
		}
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		return err
	}
	for _, e := range m.Events {
		if e.Type == "chat.message" {
			s.texts = append(s.texts, e.Data.Text)
		}
	}
	select {
	case s.got <- struct{}{}:
	default:
	}
	return nil
}

func (s *sinkRec) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.texts...)
}

// TestAttachHandsOverInOrder: batches flushed before Attach wait on C and
// reach the sink first; later ones go to the sink from the fan-out, with
// the batch's shared frame; a failing sink cuts the subscriber off.
func TestAttachHandsOverInOrder(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	rs := n.rooms
	sub, err := rs.Subscribe(ctx(t), "s", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	// The host's messages flush at once, each its own batch.
	mustDo(t, rs, host, Command{Type: CmdChatSend, Text: "one"})
	mustDo(t, rs, host, Command{Type: CmdChatSend, Text: "two"})
	waitFor(t, func() bool { return len(sub.c) >= 2 })
	sink := &sinkRec{got: make(chan struct{}, 1)}
	if err := sub.Attach(sink); err != nil {
		t.Fatal(err)
	}
	if got := sink.list(); len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Fatalf("after Attach: %v", got)
	}
	mustDo(t, rs, host, Command{Type: CmdChatSend, Text: "three"})
	waitFor(t, func() bool { return len(sink.list()) == 3 })
	if got := sink.list(); got[2] != "three" {
		t.Fatalf("after the fan-out: %v", got)
	}
	if sink.framed != 3 {
		t.Errorf("%d of 3 batches sent with their shared frame", sink.framed)
	}
	select {
	case b, ok := <-sub.C():
		t.Fatalf("C yielded %v, %v after Attach", b, ok)
	default:
	}
	// A sink that fails cuts the subscriber off: C closes, Lagged.
	sink.mu.Lock()
	sink.fail = true
	sink.mu.Unlock()
	lagged := rs.Metrics().Lagged
	mustDo(t, rs, host, Command{Type: CmdChatSend, Text: "four"})
	select {
	case _, ok := <-sub.C():
		if ok {
			t.Fatal("C yielded a batch")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not cut off")
	}
	if !sub.Lagged() || rs.Metrics().Lagged != lagged+1 || sub.LastSeq() == 0 {
		t.Fatalf("lagged %v (metric %d, was %d), last %d", sub.Lagged(), rs.Metrics().Lagged, lagged, sub.LastSeq())
	}
	sub.Close()
}

// TestAttachAfterCutOff: a subscriber cut off before Attach gets
// ErrCutOff from it.
func TestAttachAfterCutOff(t *testing.T) {
	n := startNode(t, t.TempDir(), func(c *Config) { c.SubscriberQueue = 1 })
	rs := n.rooms
	sub, err := rs.Subscribe(ctx(t), "s", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	mustDo(t, rs, host, Command{Type: CmdChatSend, Text: "one"})
	mustDo(t, rs, host, Command{Type: CmdChatSend, Text: "two"})
	waitFor(t, sub.Lagged)
	if err := sub.Attach(&sinkRec{got: make(chan struct{}, 1)}); !errors.Is(err, ErrCutOff) {
		t.Fatalf("Attach: %v, want ErrCutOff", err)
	}
	sub.Close()
}

// TestFanoutSharedInOrder: workers sharing each job's subscribers out in
// chunks still give every subscriber every batch, in the room's order,
// however the chunks fall between them.
func TestFanoutSharedInOrder(t *testing.T) {
	const workers, nsubs, nbatches = 4, 5*fanChunk + 7, 60
	rs := &Rooms{quit: make(chan struct{})}
	rs.lanes = make([]chan *fanJob, workers)
	for i := range rs.lanes {
		rs.lanes[i] = make(chan *fanJob, fanQueue)
		rs.wg.Go(func() { rs.runFanout(rs.lanes[i]) })
	}
	defer func() {
		close(rs.quit)
		rs.wg.Wait()
	}()
	subs := make(map[*Sub]struct{}, nsubs)
	sinks := make([]*sinkRec, nsubs)
	for i := range nsubs {
		sinks[i] = &sinkRec{got: make(chan struct{}, 1)}
		s := &Sub{id: uint64(i + 1), c: make(chan *Batch, 1), sink: sinks[i]}
		s.attached.Store(true)
		subs[s] = struct{}{}
	}
	list := fanList(subs)
	for i := 1; i < len(list); i++ {
		if list[i-1].id >= list[i].id {
			t.Fatalf("fan-out list not in subscription order at %d", i)
		}
	}
	for seq := range uint64(nbatches) {
		b := newBatch([]Out{{Seq: seq + 1, Type: "chat.message", Data: ChatMessage{Text: strconv.FormatUint(seq, 10)}}})
		rs.fanout(newFanJob(b, b, list))
	}
	for i, s := range sinks {
		waitFor(t, func() bool { return len(s.list()) == nbatches })
		for j, text := range s.list() {
			if text != strconv.Itoa(j) {
				t.Fatalf("subscriber %d: batch %d is %q, want %d: %v", i, j, text, j, s.list())
			}
		}
	}
}
