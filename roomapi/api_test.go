package roomapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveloop/liveloop/bus"
	"github.com/liveloop/liveloop/interact"
	"github.com/liveloop/liveloop/websocket"
)

const adminKey = "test-admin-key"

type testNode struct {
	bus   *bus.Bus
	rooms *interact.Rooms
	api   *Handler
	srv   *httptest.Server
	mux   *http.ServeMux
}

func startNode(t testing.TB, dir string, mod func(*interact.Config)) *testNode {
	t.Helper()
	b, err := bus.New(bus.Config{DataDir: dir, Listen: bus.ListenNone})
	if err != nil {
		t.Fatal(err)
	}
	cfg := interact.Config{NATS: b.Conn(), JetStream: b.JetStream(), FlushInterval: 50 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	rs, err := interact.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	api, err := New(Config{Rooms: rs, DataDir: dir, AdminKey: adminKey})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	mux.HandleFunc("GET /api/v1/openapi.json", api.ServeOpenAPI)
	n := &testNode{bus: b, rooms: rs, api: api, srv: httptest.NewServer(mux), mux: mux}
	t.Cleanup(func() {
		n.srv.CloseClientConnections()
		n.srv.Close()
		api.Close()
		rs.Close()
		b.Close()
	})
	return n
}

// call makes one API request and decodes the answer into out (if not nil).
func (n *testNode) call(t testing.TB, method, path, token string, body any, out any, hdr ...string) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func (n *testNode) session(t testing.TB, name string, role interact.Role) Session {
	t.Helper()
	var s Session
	if st := n.call(t, "POST", "/api/v1/session", "", SessionRequest{Name: name, Role: role}, &s, "X-Admin-Key", adminKey); st != 201 {
		t.Fatalf("session: %d", st)
	}
	return s
}

type apiErr struct {
	Error struct{ Code, Message string }
}

func TestSessions(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	var e apiErr
	if st := n.call(t, "POST", "/api/v1/session", "", SessionRequest{Role: "host"}, &e); st != 403 || e.Error.Code != "forbidden" {
		t.Fatalf("host without admin key: %d %+v", st, e)
	}
	if st := n.call(t, "POST", "/api/v1/session", "", SessionRequest{Role: "host"}, &e, "X-Admin-Key", "wrong"); st != 403 {
		t.Fatalf("host with a wrong key: %d", st)
	}
	if st := n.call(t, "POST", "/api/v1/session", "", map[string]any{"name": "x", "extra": 1}, &e); st != 400 || e.Error.Code != "bad_request" {
		t.Fatalf("unknown field: %d %+v", st, e)
	}
	var s Session
	if st := n.call(t, "POST", "/api/v1/session", "", SessionRequest{Name: "Ann"}, &s); st != 201 || s.Role != "viewer" || s.Name != "Ann" {
		t.Fatalf("viewer session: %d %+v", st, s)
	}
	a, err := n.api.sessions.verify(s.Token)
	if err != nil || a.ID != s.Viewer {
		t.Fatalf("verify: %+v %v", a, err)
	}
	if _, err := n.api.sessions.verify(s.Token + "x"); err == nil {
		t.Fatal("tampered token verified")
	}
	if st := n.call(t, "POST", "/api/v1/streams/s/polls", s.Token, map[string]any{"question": "q", "options": []string{"a", "b"}}, &e); st != 403 {
		t.Fatalf("viewer creating a poll: %d", st)
	}
	if st := n.call(t, "POST", "/api/v1/streams/s/chat", "", map[string]any{"text": "hi"}, &e); st != 401 || e.Error.Code != "unauthorized" {
		t.Fatalf("no token: %d %+v", st, e)
	}
}

func TestRESTPollsAndIdempotency(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	host := n.session(t, "Host", interact.RoleHost)
	var res interact.Result
	if st := n.call(t, "POST", "/api/v1/streams/s/polls", host.Token, map[string]any{"question": "Best?", "options": []string{"a", "b"}}, &res); st != 201 {
		t.Fatalf("create: %d", st)
	}
	id := res.ID
	var e apiErr
	v := n.session(t, "V", interact.RoleViewer)
	if st := n.call(t, "POST", "/api/v1/streams/s/polls/"+id+"/votes", v.Token, map[string]any{"choices": []int{0}}, &e); st != 409 || e.Error.Code != "poll_not_open" {
		t.Fatalf("vote on draft: %d %+v", st, e)
	}
	if st := n.call(t, "POST", "/api/v1/streams/s/polls/"+id+"/open", host.Token, nil, &res); st != 200 {
		t.Fatalf("open: %d", st)
	}
	// The same key twice: one vote, the same answer.
	var r1, r2 interact.Result
	n.call(t, "POST", "/api/v1/streams/s/polls/"+id+"/votes", v.Token, map[string]any{"choices": []int{1}, "mediaTime": 12.5}, &r1, "Idempotency-Key", "k1")
	st := n.call(t, "POST", "/api/v1/streams/s/polls/"+id+"/votes", v.Token, map[string]any{"choices": []int{1}}, &r2, "Idempotency-Key", "k1")
	if st != 201 || r1 != r2 || r1.Seq == 0 {
		t.Fatalf("idempotent votes: %d %+v %+v", st, r1, r2)
	}
	if st := n.call(t, "POST", "/api/v1/streams/s/polls/"+id+"/votes", v.Token, map[string]any{"choices": []int{0}}, &e, "Idempotency-Key", "k2"); st != 409 || e.Error.Code != "already_voted" {
		t.Fatalf("second vote: %d %+v", st, e)
	}
	if st := n.call(t, "POST", "/api/v1/streams/s/polls/"+id+"/votes", v.Token, map[string]any{"choices": "x"}, &e); st != 400 || e.Error.Code != "bad_request" {
		t.Fatalf("bad body: %d %+v", st, e)
	}
	n.call(t, "POST", "/api/v1/streams/s/polls/"+id+"/close", host.Token, nil, &res)
	var p interact.PollView
	if st := n.call(t, "GET", "/api/v1/streams/s/polls/"+id, "", nil, &p); st != 200 || fmt.Sprint(p.Tally) != "[0 1]" || p.Status != "closed" {
		t.Fatalf("results: %d %+v", st, p)
	}
	if st := n.call(t, "GET", "/api/v1/streams/s/polls/nope", "", nil, &e); st != 404 || e.Error.Code != "not_found" {
		t.Fatalf("missing poll: %d %+v", st, e)
	}
}

func TestRESTModerationAndRateLimit(t *testing.T) {
	n := startNode(t, t.TempDir(), func(c *interact.Config) { c.ChatRate, c.ChatBurst = 1, 3 })
	mod := n.session(t, "Mod", interact.RoleModerator)
	bad := n.session(t, "Troll", interact.RoleViewer)
	good := n.session(t, "Nice", interact.RoleViewer)
	var res interact.Result
	var e apiErr
	if st := n.call(t, "POST", "/api/v1/streams/s/chat", bad.Token, map[string]any{"text": "hi"}, &res); st != 201 {
		t.Fatalf("chat: %d", st)
	}
	if st := n.call(t, "POST", "/api/v1/streams/s/bans", mod.Token, map[string]any{"viewer": bad.Viewer}, &res); st != 201 {
		t.Fatalf("ban: %d", st)
	}
	if st := n.call(t, "POST", "/api/v1/streams/s/chat", bad.Token, map[string]any{"text": "again"}, &e); st != 403 || e.Error.Code != "banned" {
		t.Fatalf("banned chat: %d %+v", st, e)
	}
	var bans struct{ Bans map[string]any }
	if n.call(t, "GET", "/api/v1/streams/s/bans", mod.Token, nil, &bans); bans.Bans[bad.Viewer] != "permanent" {
		t.Fatalf("bans = %+v", bans)
	}
	// A flood is refused with rate_limited; others still post, and fast.
	flood := n.session(t, "Flood", interact.RoleViewer)
	limited := 0
	for range 20 {
		if st := n.call(t, "POST", "/api/v1/streams/s/chat", flood.Token, map[string]any{"text": "spam"}, &e); st == 429 && e.Error.Code == "rate_limited" {
			limited++
		}
	}
	if limited < 15 {
		t.Fatalf("%d of 20 refused", limited)
	}
	start := time.Now()
	if st := n.call(t, "POST", "/api/v1/streams/s/chat", good.Token, map[string]any{"text": "hello"}, &res); st != 201 {
		t.Fatalf("good viewer: %d", st)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("good viewer waited %v", d)
	}
	long := strings.Repeat("x", 501)
	if st := n.call(t, "POST", "/api/v1/streams/s/chat", good.Token, map[string]any{"text": long}, &e); st != 400 || e.Error.Code != "too_long" {
		t.Fatalf("long message: %d %+v", st, e)
	}
	if st := n.call(t, "DELETE", "/api/v1/streams/s/chat/"+res.ID, mod.Token, nil, &res); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	var chat struct{ Messages []interact.ChatMessage }
	n.call(t, "GET", "/api/v1/streams/s/chat", "", nil, &chat)
	for _, m := range chat.Messages {
		if m.ID == res.ID || m.Viewer == bad.Viewer {
			t.Fatalf("deleted or banned message still in chat: %+v", m)
		}
	}
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if st := n.call(t, "GET", "/api/v1/openapi.json", "", nil, &doc); st != 200 || doc.OpenAPI != "3.1.0" {
		t.Fatalf("document: %d %q", st, doc.OpenAPI)
	}
	count := 0
	for _, rt := range n.api.routes() {
		// Registered: the mux routes a request of that shape to that pattern.
		path := strings.NewReplacer("{stream}", "s", "{id}", "x1", "{viewer}", "v1").Replace(rt.path)
		req := httptest.NewRequest(rt.method, path, nil)
		if _, pattern := n.mux.Handler(req); pattern != rt.method+" "+rt.path {
			t.Errorf("%s %s: mux routes it to %q", rt.method, path, pattern)
		}
		if _, ok := doc.Paths[rt.path][strings.ToLower(rt.method)]; !ok {
			t.Errorf("%s %s is not in the OpenAPI document", rt.method, rt.path)
		}
		count++
	}
	documented := 0
	for _, item := range doc.Paths {
		documented += len(item)
	}
	if documented != count {
		t.Errorf("document has %d operations, the mux %d", documented, count)
	}
}

// wsClient is a viewer channel client.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
	msgs chan map[string]any
}

func dialLive(t testing.TB, n *testNode, query string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(n.srv.URL, "http") + "/api/v1/streams/s/live" + query
	conn, err := websocket.Dial(ctx, url, websocket.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &wsClient{t: t, conn: conn, msgs: make(chan map[string]any, 1024)}
	go func() {
		defer close(c.msgs)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				c.msgs <- m
			}
		}
	}()
	t.Cleanup(func() { conn.Close(websocket.CloseNormal, "") })
	return c
}

// next returns the next message of type typ, skipping others.
func (c *wsClient) next(typ string) map[string]any {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatalf("connection ended waiting for %s", typ)
			}
			if m["type"] == typ {
				return m
			}
		case <-timeout:
			c.t.Fatalf("no %s message", typ)
		}
	}
}

// event waits for an event of type typ and returns it.
func (c *wsClient) event(typ string, match func(map[string]any) bool) map[string]any {
	c.t.Helper()
	for {
		m := c.next("events")
		for _, e := range m["events"].([]any) {
			ev := e.(map[string]any)
			if ev["type"] == typ && (match == nil || match(ev)) {
				return ev
			}
		}
	}
}

func (c *wsClient) send(cmd map[string]any) {
	b, _ := json.Marshal(cmd)
	if err := c.conn.WriteText(b); err != nil {
		c.t.Fatal(err)
	}
}

func TestViewerChannel(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	host := n.session(t, "Host", interact.RoleHost)
	var res interact.Result
	n.call(t, "POST", "/api/v1/streams/s/chat", host.Token, map[string]any{"text": "welcome"}, &res)
	n.call(t, "POST", "/api/v1/streams/s/polls", host.Token, map[string]any{"question": "Q", "options": []string{"a", "b"}, "open": true}, &res)
	pollID := res.ID

	c := dialLive(t, n, "?name=Zed")
	sess := c.next("session")
	if sess["name"] != "Zed" || sess["token"] == "" {
		t.Fatalf("session = %v", sess)
	}
	snap := c.next("snapshot")
	data := snap["data"].(map[string]any)
	if len(data["chat"].([]any)) != 1 || data["poll"].(map[string]any)["id"] != pollID || data["viewers"].(float64) != 1 {
		t.Fatalf("snapshot = %v", snap)
	}
	// A command up, its result and its effect down.
	c.send(map[string]any{"type": "poll.vote", "id": pollID, "choices": []int{1}, "key": "v1", "mediaTime": 3.25})
	r := c.next("result")
	if r["key"] != "v1" || r["error"] != nil {
		t.Fatalf("result = %v", r)
	}
	c.event("poll.results", nil)
	c.send(map[string]any{"type": "chat.send", "text": "no media time"})
	if e := c.next("error"); e["error"].(map[string]any)["code"] != "bad_request" {
		t.Fatalf("error = %v", e)
	}
	c.send(map[string]any{"type": "chat.send", "text": "hi all", "mediaTime": 4})
	ev := c.event("chat.message", nil)
	if d := ev["data"].(map[string]any); d["text"] != "hi all" || d["mediaTime"] != 4.0 || d["name"] != "Zed" {
		t.Fatalf("chat event = %v", ev)
	}
	last := uint64(ev["seq"].(float64))
	c.conn.Close(websocket.CloseNormal, "")

	// Missed while away, got on reconnect with since.
	n.call(t, "POST", "/api/v1/streams/s/chat", host.Token, map[string]any{"text": "while you were away"}, &res)
	c2 := dialLive(t, n, fmt.Sprintf("?token=%s&since=%d", sess["token"], last))
	m := c2.next("events")
	evs := m["events"].([]any)
	if m["resumed"] != true || len(evs) != 1 || evs[0].(map[string]any)["data"].(map[string]any)["text"] != "while you were away" {
		t.Fatalf("resume = %v", m)
	}
	// And live events keep coming.
	n.call(t, "POST", "/api/v1/streams/s/chat", host.Token, map[string]any{"text": "live again"}, &res)
	c2.event("chat.message", func(e map[string]any) bool { return e["data"].(map[string]any)["text"] == "live again" })
}

func TestViewerChannelRefusesBadToken(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	resp, err := http.Get(n.srv.URL + "/api/v1/streams/s/live?token=nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestManyViewersGetEveryEvent(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	host := n.session(t, "Host", interact.RoleHost)
	const viewers, msgs = 50, 20
	clients := make([]*wsClient, viewers)
	for i := range clients {
		clients[i] = dialLive(t, n, "")
		clients[i].next("snapshot")
	}
	for i := range msgs {
		var res interact.Result
		n.call(t, "POST", "/api/v1/streams/s/chat", host.Token, map[string]any{"text": fmt.Sprint(i)}, &res)
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := 0
			timeout := time.After(10 * time.Second)
			for seen < msgs {
				select {
				case m := <-c.msgs:
					if m["type"] != "events" {
						continue
					}
					for _, e := range m["events"].([]any) {
						if e.(map[string]any)["type"] == "chat.message" {
							seen++
						}
					}
				case <-timeout:
					t.Errorf("viewer saw %d of %d messages", seen, msgs)
					return
				}
			}
		}()
	}
	wg.Wait()
}
