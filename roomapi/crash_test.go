package roomapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/liveloop/liveloop/bus"
	"github.com/liveloop/liveloop/interact"
)

const helperEnv = "LIVELOOP_ROOMAPI_HELPER_DIR"

// TestHelperNode is not a test: run by TestSIGKILLMidPoll as a child
// process (os.Args[0] with helperEnv set), it serves a node on the data
// directory until killed.
func TestHelperNode(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	b, err := bus.New(bus.Config{DataDir: dir, Listen: bus.ListenNone})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := interact.New(context.Background(), interact.Config{NATS: b.Conn(), JetStream: b.JetStream()})
	if err != nil {
		t.Fatal(err)
	}
	api, err := New(Config{Rooms: rs, DataDir: dir, AdminKey: adminKey})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	http.Serve(ln, mux) // until SIGKILL
}

type child struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, dir string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNode$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return &child{cmd: cmd, addr: a}
	case <-time.After(30 * time.Second):
		t.Fatal("child node did not start")
		return nil
	}
}

// TestSIGKILLMidPoll kills the node (SIGKILL) while votes flow, restarts
// it on the same data directory, and checks that every acknowledged vote
// is counted, none twice; votes whose answer was lost are retried with
// their keys and counted once.
func TestSIGKILLMidPoll(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	c := startChild(t, dir)
	base := "http://" + c.addr
	call := func(method, path, token string, body any, out any, hdr ...string) (int, error) {
		return callURL(base, method, path, token, body, out, hdr...)
	}
	var host Session
	if st, err := call("POST", "/api/v1/session", "", SessionRequest{Name: "Host", Role: "host"}, &host, "X-Admin-Key", adminKey); err != nil || st != 201 {
		t.Fatalf("host session: %d %v", st, err)
	}
	var res interact.Result
	if st, err := call("POST", "/api/v1/streams/show/polls", host.Token, map[string]any{"question": "Q", "options": []string{"a", "b", "c"}, "open": true}, &res); err != nil || st != 201 {
		t.Fatalf("poll: %d %v", st, err)
	}
	pollID := res.ID
	const voters = 400
	tokens := make([]string, voters)
	for i := range tokens {
		var s Session
		if st, err := call("POST", "/api/v1/session", "", SessionRequest{}, &s); err != nil || st != 201 {
			t.Fatalf("session: %d %v", st, err)
		}
		tokens[i] = s.Token
	}

	var (
		acked   atomic.Int64
		mu      sync.Mutex
		ackSeq  = map[int]uint64{}
		unknown []int
	)
	killAt := int64(voters / 3)
	killed := make(chan struct{})
	go func() {
		for acked.Load() < killAt {
			time.Sleep(time.Millisecond)
		}
		c.cmd.Process.Signal(syscall.SIGKILL)
		close(killed)
	}()
	vote := func(i int) (uint64, int, error) {
		var r interact.Result
		st, err := call("POST", "/api/v1/streams/show/polls/"+pollID+"/votes", tokens[i],
			map[string]any{"choices": []int{i % 3}}, &r, "Idempotency-Key", fmt.Sprintf("vote-%d", i))
		return r.Seq, st, err
	}
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= voters {
					return
				}
				seq, st, err := vote(i)
				mu.Lock()
				if err == nil && st == 201 {
					ackSeq[i] = seq
					acked.Add(1)
				} else {
					unknown = append(unknown, i)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	<-killed
	c.cmd.Wait()
	nAcked := len(ackSeq)
	t.Logf("before the kill: %d votes acknowledged, %d unanswered", nAcked, len(unknown))
	if nAcked < int(killAt) || len(unknown) == 0 {
		t.Fatalf("the kill did not land mid-flow: %d acked, %d unanswered", nAcked, len(unknown))
	}

	c = startChild(t, dir)
	base = "http://" + c.addr
	tally := func() int {
		var p interact.PollView
		if st, err := call("GET", "/api/v1/streams/show/polls/"+pollID, host.Token, nil, &p); err != nil || st != 200 {
			t.Fatalf("poll: %d %v", st, err)
		}
		sum := 0
		for _, v := range p.Tally {
			sum += v
		}
		if *p.Voters != sum {
			t.Fatalf("voters %d != tally sum %d", *p.Voters, sum)
		}
		return sum
	}
	got := tally()
	// Every acknowledged vote is there; beyond them, at most the votes
	// that were in flight (stored, but the answer died with the process).
	if got < nAcked || got > nAcked+len(unknown) {
		t.Fatalf("after restart the tally is %d; %d were acknowledged, %d in doubt", got, nAcked, len(unknown))
	}
	t.Logf("after restart: tally %d = %d acknowledged + %d stored but unanswered", got, nAcked, got-nAcked)
	// Acknowledged votes retried: same answer, not counted again.
	for i, seq := range ackSeq {
		s, st, err := vote(i)
		if err != nil || st != 201 || s != seq {
			t.Fatalf("retry of acknowledged vote %d: %d %v seq %d, want %d", i, st, err, s, seq)
		}
	}
	// Unanswered votes retried with their keys: each counted once.
	for _, i := range unknown {
		if _, st, err := vote(i); err != nil || st != 201 {
			t.Fatalf("retry of vote %d: %d %v", i, st, err)
		}
	}
	if got := tally(); got != voters {
		t.Fatalf("after retries the tally is %d, want exactly %d", got, voters)
	}
}

var errStatus = errors.New("status")

func callURL(base, method, path, token string, body any, out any, hdr ...string) (int, error) {
	var rd *strings.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("%w %d: %v", errStatus, resp.StatusCode, err)
		}
	}
	return resp.StatusCode, nil
}
