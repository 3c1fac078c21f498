package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/liveloop/liveloop/websocket"
)

// The room mode: N clients of the viewer channel,
// GET /api/v1/streams/{stream}/live (see roomapi/live.go), each issued an
// anonymous token on connecting, and a host with a host token (from the
// admin key) on a channel of its own. Once every client has its snapshot
// the host opens a changeable poll, and then:
//
//   - rate drivers (roomWorkers goroutines, each owning every
//     roomWorkers-th client) send votes, chat messages and reactions at the
//     configured rates, round-robin over their clients; a client with
//     maxOutstanding commands unanswered is passed over (counted as
//     backlog), so a slow server cannot grow the queues without bound;
//   - the host sends a marker chat message, "LLMARK:<send time, Unix ns>",
//     every MarkInterval; every client times its arrival (fan-out latency).
//
// The server answers a connection's commands in order (one at a time), so
// each client matches results to its commands with a FIFO of send times.

const (
	roomWorkers    = 4
	roomShards     = 16
	maxOutstanding = 16
	markPrefix     = "LLMARK:"
	pollOptions    = 4
)

// Kinds of command a client sends.
const (
	cmdVote = iota
	cmdChat
	cmdReact
	cmdKinds
)

var cmdNames = [cmdKinds]string{"vote", "chat", "react"}

// roomAudience is the viewer-channel clients of one point.
type roomAudience struct {
	cfg     *Config
	n       int
	wsURL   string // the viewer channel
	t0      time.Time
	clients []*roomClient
	shards  [roomShards]roomShard
	pollID  string // set by begin before the drivers start
	// pollers read the clients' sockets once they have their snapshot
	// (nil: each client's goroutine reads its own; see room_linux.go).
	pollers *roomPollers

	// markers counts the host's markers sent in the window.
	markMu  sync.Mutex
	markers uint64
}

// roomShard holds the counters of every roomShards-th client, so that
// 10,000 clients do not need 10,000 histograms.
type roomShard struct {
	mu sync.Mutex
	st roomStats
}

// roomStats are counters over the measured window.
type roomStats struct {
	sent, ok  [cmdKinds]uint64
	ackLat    [cmdKinds]Histogram // send to result, accepted commands
	refused   map[string]uint64   // error codes of refused commands
	fanLat    Histogram           // marker send to arrival
	chatMsgs  uint64              // chat.message events received
	eventMsgs uint64              // events messages received
	bytes     uint64
	resumed   uint64 // resumed events messages (after being cut off)
	backlog   uint64 // commands due but not sent: too many unanswered
	unmatched uint64 // results with no command waiting
}

func (s *roomStats) add(o *roomStats) {
	for k := range cmdKinds {
		s.sent[k] += o.sent[k]
		s.ok[k] += o.ok[k]
		s.ackLat[k].Merge(&o.ackLat[k])
	}
	for c, n := range o.refused {
		if s.refused == nil {
			s.refused = map[string]uint64{}
		}
		s.refused[c] += n
	}
	s.fanLat.Merge(&o.fanLat)
	s.chatMsgs += o.chatMsgs
	s.eventMsgs += o.eventMsgs
	s.bytes += o.bytes
	s.resumed += o.resumed
	s.backlog += o.backlog
	s.unmatched += o.unmatched
}

// RoomFigures are the room mode's figures over the measured window.
type RoomFigures struct {
	// Offered rates (the configuration), per second.
	VoteRate  float64 `json:"voteRate"`
	ChatRate  float64 `json:"chatRate"`
	ReactRate float64 `json:"reactRate"`
	// Commands sent and accepted (acknowledged without error), by kind.
	Sent     map[string]uint64 `json:"sent"`
	Accepted map[string]uint64 `json:"accepted"`
	// VotesPerSecond is votes accepted per second.
	VotesPerSecond float64   `json:"votesPerSecond"`
	VoteAck        Quantiles `json:"voteAckMs"`
	ChatAck        Quantiles `json:"chatAckMs"`
	// Refused counts refusals by error code.
	Refused map[string]uint64 `json:"refused,omitempty"`
	// Backlog counts commands not sent because their client had
	// maxOutstanding unanswered: the server was not keeping up.
	Backlog   uint64 `json:"backlog"`
	Unmatched uint64 `json:"unmatched"`
	// Fanout is the host's marker messages, send to arrival, over every
	// client.
	Fanout           Quantiles `json:"fanoutMs"`
	Markers          uint64    `json:"markers"`          // sent in the window
	MarkerDeliveries uint64    `json:"markerDeliveries"` // received in the window
	// ChatDeliveriesPerSecond is chat.message events received by all
	// clients per second.
	ChatDeliveriesPerSecond float64 `json:"chatDeliveriesPerSecond"`
	EventMessagesPerSecond  float64 `json:"eventMessagesPerSecond"`
	ReceivedMbps            float64 `json:"receivedMbps"`
	Resumed                 uint64  `json:"resumed"`
}

func newRoomAudience(cfg *Config, n int) *roomAudience {
	a := &roomAudience{
		cfg: cfg, n: n, t0: cfg.Now(),
		wsURL:   "ws://" + cfg.HTTPAddr + "/api/v1/streams/" + url.PathEscape(cfg.Stream) + "/live",
		clients: make([]*roomClient, 0, n),
	}
	if rp, err := newRoomPollers(n, cfg.Now); err == nil {
		a.pollers = rp
	} else {
		cfg.Logger.Warn("room clients read on goroutines of their own", "err", err)
	}
	return a
}

func (a *roomAudience) gone(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		snap, err := a.snapshot(ctx)
		if err != nil {
			return err
		}
		if snap.Viewers == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d viewer channels: %w", snap.Viewers, ctx.Err())
		case <-tick.C:
		}
	}
}

// roomSnapshot is the part of GET /api/v1/streams/{stream}/room the tool
// reads.
type roomSnapshot struct {
	Viewers int `json:"viewers"`
	Poll    *struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"poll"`
}

func (a *roomAudience) snapshot(ctx context.Context) (roomSnapshot, error) {
	var snap roomSnapshot
	err := a.api(ctx, http.MethodGet, "/api/v1/streams/"+url.PathEscape(a.cfg.Stream)+"/room", nil, nil, &snap)
	return snap, err
}

// api makes one REST request and decodes the JSON answer into out.
func (a *roomAudience) api(ctx context.Context, method, path string, hdr http.Header, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+a.cfg.HTTPAddr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("loadtest: %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}

func (a *roomAudience) add(i int) (*member, func(context.Context)) {
	c := &roomClient{a: a, idx: i, member: newMember(), shard: &a.shards[i%roomShards]}
	a.clients = append(a.clients, c)
	return &c.member, c.run
}

// begin connects the host, closes a poll left open, opens a poll, and
// starts the marker loop and the rate drivers.
func (a *roomAudience) begin(ctx context.Context, wg *sync.WaitGroup) error {
	var sess struct {
		Token string `json:"token"`
	}
	hdr := http.Header{"X-Admin-Key": {a.cfg.AdminKey}}
	if err := a.api(ctx, http.MethodPost, "/api/v1/session", hdr, []byte(`{"name":"Load host","role":"host"}`), &sess); err != nil {
		return fmt.Errorf("loadtest: host session: %w", err)
	}
	dctx, cancel := context.WithTimeout(ctx, a.cfg.ConnectTimeout)
	conn, err := websocket.Dial(dctx, a.wsURL+"?token="+url.QueryEscape(sess.Token), websocket.Options{MaxMessage: roomMaxMessage})
	cancel()
	if err != nil {
		return fmt.Errorf("loadtest: host channel: %w", err)
	}
	// The host's reader hands results to begin and drops the rest.
	results := make(chan []byte, 16)
	wg.Go(func() {
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if bytes.HasPrefix(msg, []byte(`{"type":"result"`)) || bytes.HasPrefix(msg, []byte(`{"type":"error"`)) {
				select {
				case results <- msg:
				default:
				}
			}
		}
	})
	// The channel closes when ctx ends (the point's clients stop), which
	// ends the reader.
	context.AfterFunc(ctx, func() { conn.Close(websocket.CloseNormal, "") })
	do := func(cmd string) (json.RawMessage, error) {
		if err := conn.WriteText([]byte(cmd)); err != nil {
			return nil, err
		}
		t := time.NewTimer(10 * time.Second)
		defer t.Stop()
		select {
		case msg := <-results:
			var r struct {
				ID    string          `json:"id"`
				Error json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(msg, &r); err != nil {
				return nil, err
			}
			if r.Error != nil {
				return nil, fmt.Errorf("loadtest: host command %s: %s", cmd, r.Error)
			}
			return json.RawMessage(strconv.Quote(r.ID)), nil
		case <-t.C:
			return nil, errors.New("loadtest: host command unanswered")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	snap, err := a.snapshot(ctx)
	if err != nil {
		return err
	}
	if snap.Poll != nil && snap.Poll.Status == "open" {
		if _, err := do(`{"type":"poll.close","mediaTime":0,"id":` + strconv.Quote(snap.Poll.ID) + `}`); err != nil {
			return err
		}
	}
	id, err := do(`{"type":"poll.create","mediaTime":0,"poll":{"question":"Load test","options":["a","b","c","d"],"changeable":true,"open":true}}`)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(id, &a.pollID); err != nil || a.pollID == "" {
		return fmt.Errorf("loadtest: poll.create answered without an id")
	}
	// Drain the host's results from now on.
	wg.Go(func() {
		for {
			select {
			case <-results:
			case <-ctx.Done():
				return
			}
		}
	})
	wg.Go(func() { a.mark(ctx, conn) })
	for w := range roomWorkers {
		wg.Go(func() { a.drive(ctx, w) })
	}
	return nil
}

// mark sends the host's marker messages.
func (a *roomAudience) mark(ctx context.Context, conn *websocket.Conn) {
	t := time.NewTicker(a.cfg.MarkInterval)
	defer t.Stop()
	var buf []byte
	for n := 0; ; n++ {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		buf = append(buf[:0], `{"type":"chat.send","mediaTime":`...)
		buf = strconv.AppendFloat(buf, a.cfg.Now().Sub(a.t0).Seconds(), 'f', 3, 64)
		buf = append(buf, `,"text":"`+markPrefix...)
		buf = strconv.AppendInt(buf, a.cfg.Now().UnixNano(), 10)
		buf = append(buf, `"}`...)
		if conn.WriteText(buf) != nil {
			return
		}
		a.markMu.Lock()
		a.markers++
		a.markMu.Unlock()
	}
}

// drive sends worker w's share of the commands: clients w, w+W, ...
func (a *roomAudience) drive(ctx context.Context, w int) {
	var mine []*roomClient
	for i := w; i < len(a.clients); i += roomWorkers {
		select {
		case <-a.clients[i].started:
			mine = append(mine, a.clients[i])
		default:
		}
	}
	if len(mine) == 0 {
		return
	}
	rates := [cmdKinds]float64{a.cfg.VoteRate, a.cfg.ChatRate, a.cfg.ReactRate}
	var due [cmdKinds]uint64 // sent or passed over so far
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	next := 0
	var buf []byte
	for {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		el := time.Since(start).Seconds()
		mt := a.cfg.Now().Sub(a.t0).Seconds()
		for k := range cmdKinds {
			want := uint64(rates[k] / roomWorkers * el)
			for ; due[k] < want; due[k]++ {
				c := mine[next%len(mine)]
				next++
				var err error
				buf, err = c.send(buf, k, mt)
				if err != nil && ctx.Err() != nil {
					return
				}
			}
		}
	}
}

// roomClient is one viewer channel. Its goroutine (run) reads; one rate
// driver writes.
type roomClient struct {
	a     *roomAudience
	idx   int
	shard *roomShard
	member

	conn *websocket.Conn // set before started closes
	sock *rawSock        // the socket once detached (set before started closes)

	fmu  sync.Mutex
	fifo []pendingCmd // commands sent and not yet answered, oldest first

	n uint64 // commands made (the driver's)
}

type pendingCmd struct {
	at   time.Time
	kind int
}

var emoji = [...]string{"❤️", "😂", "👏", "🔥", "😮", "😢", "👍", "🎉"}

// send writes one command of kind k, made in buf, unless the client has
// too many unanswered or is not connected.
func (c *roomClient) send(buf []byte, k int, mediaTime float64) ([]byte, error) {
	c.fmu.Lock()
	full := len(c.fifo) >= maxOutstanding
	c.fmu.Unlock()
	if full {
		c.shard.mu.Lock()
		c.shard.st.backlog++
		c.shard.mu.Unlock()
		return buf, nil
	}
	c.n++
	buf = append(buf[:0], `{"type":"`...)
	key := byte('v')
	switch k {
	case cmdVote:
		buf = append(buf, "poll.vote"...)
	case cmdChat:
		buf, key = append(buf, "chat.send"...), 'c'
	case cmdReact:
		buf, key = append(buf, "react"...), 'r'
	}
	buf = append(buf, `","key":"`...)
	buf = append(buf, key)
	buf = strconv.AppendUint(buf, c.n, 10)
	buf = append(buf, `","mediaTime":`...)
	buf = strconv.AppendFloat(buf, mediaTime, 'f', 3, 64)
	switch k {
	case cmdVote:
		buf = append(buf, `,"id":`...)
		buf = strconv.AppendQuote(buf, c.a.pollID)
		buf = append(buf, `,"choices":[`...)
		buf = strconv.AppendUint(buf, (c.n+uint64(c.idx))%pollOptions, 10)
		buf = append(buf, ']')
	case cmdChat:
		buf = append(buf, `,"text":"load message `...)
		buf = strconv.AppendUint(buf, c.n, 10)
		buf = append(buf, '"')
	case cmdReact:
		buf = append(buf, `,"emoji":"`...)
		buf = append(buf, emoji[c.n%uint64(len(emoji))]...)
		buf = append(buf, `","count":1`...)
	}
	buf = append(buf, '}')
	c.fmu.Lock()
	c.fifo = append(c.fifo, pendingCmd{at: time.Now(), kind: k})
	c.fmu.Unlock()
	c.shard.mu.Lock()
	c.shard.st.sent[k]++
	c.shard.mu.Unlock()
	if c.sock != nil {
		return buf, c.sock.write(buf)
	}
	return buf, c.conn.WriteText(buf)
}

func (c *roomClient) run(ctx context.Context) {
	defer close(c.exited)
	c.err = c.play(ctx)
	if ctx.Err() != nil {
		c.err = nil
	}
}

func (c *roomClient) play(ctx context.Context) error {
	cfg := c.a.cfg
	t0 := cfg.Now()
	dctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	conn, err := websocket.Dial(dctx, c.a.wsURL+"?name=load-"+strconv.Itoa(c.idx), websocket.Options{MaxMessage: roomMaxMessage})
	cancel()
	if err != nil {
		return err
	}
	c.conn = conn
	stop := context.AfterFunc(ctx, func() { conn.Close(websocket.CloseNormal, "") })
	defer func() {
		if stop() {
			conn.Close(websocket.CloseNormal, "")
		}
	}()
	var buf []byte
	for {
		_, msg, err := conn.ReadMessageInto(buf)
		if err != nil {
			return err
		}
		buf = msg[:0]
		recv := cfg.Now()
		if !bytes.HasPrefix(msg, []byte(`{"type":"snapshot"`)) {
			c.handle(msg, recv)
			continue
		}
		c.startup = recv.Sub(t0)
		if c.a.pollers == nil {
			close(c.started)
			break
		}
		// From here on a poller reads the socket.
		if err := c.detach(c.a.pollers, conn); err != nil {
			return err
		}
		close(c.started)
		select {
		case <-ctx.Done():
			c.sock.finish()
			return nil
		case <-c.sock.ended:
			return c.sock.endErr
		}
	}
	for {
		_, msg, err := conn.ReadMessageInto(buf)
		if err != nil {
			return err
		}
		buf = msg[:0]
		c.handle(msg, cfg.Now())
	}
}

// handle takes one message of the viewer channel, read at recv.
func (c *roomClient) handle(msg []byte, recv time.Time) {
	switch {
	case bytes.HasPrefix(msg, []byte(`{"type":"events"`)):
		c.events(msg, recv)
	case bytes.HasPrefix(msg, []byte(`{"type":"result"`)), bytes.HasPrefix(msg, []byte(`{"type":"error"`)):
		c.result(msg, recv)
	}
}

// events counts an events message's chat messages and times its markers.
func (c *roomClient) events(msg []byte, recv time.Time) {
	st := &c.shard.st
	c.shard.mu.Lock()
	defer c.shard.mu.Unlock()
	st.eventMsgs++
	st.bytes += uint64(len(msg))
	st.chatMsgs += uint64(bytes.Count(msg, []byte(`"type":"chat.message"`)))
	if bytes.HasPrefix(msg, []byte(`{"type":"events","resumed":true`)) {
		st.resumed++
	}
	for b := msg; ; {
		i := bytes.Index(b, []byte(markPrefix))
		if i < 0 {
			return
		}
		b = b[i+len(markPrefix):]
		j := 0
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if ns, err := strconv.ParseInt(string(b[:j]), 10, 64); err == nil {
			st.fanLat.Record(recv.Sub(time.Unix(0, ns)))
		}
	}
}

// result matches an answer to the oldest unanswered command.
func (c *roomClient) result(msg []byte, recv time.Time) {
	c.fmu.Lock()
	var p pendingCmd
	ok := len(c.fifo) > 0
	if ok {
		p = c.fifo[0]
		c.fifo = append(c.fifo[:0], c.fifo[1:]...)
	}
	c.fmu.Unlock()
	st := &c.shard.st
	c.shard.mu.Lock()
	defer c.shard.mu.Unlock()
	if !ok {
		st.unmatched++
		return
	}
	i := bytes.Index(msg, []byte(`"error":`))
	if i < 0 {
		st.ok[p.kind]++
		st.ackLat[p.kind].Record(recv.Sub(p.at))
		return
	}
	code := "unknown"
	if _, rest, found := bytes.Cut(msg[i:], []byte(`"code":"`)); found {
		if v, _, found := bytes.Cut(rest, []byte(`"`)); found && len(v) <= 32 {
			code = string(v)
		}
	}
	if st.refused == nil {
		st.refused = map[string]uint64{}
	}
	st.refused[cmdNames[p.kind]+" "+code]++
}

func (a *roomAudience) reset() {
	for i := range a.shards {
		s := &a.shards[i]
		s.mu.Lock()
		s.st = roomStats{}
		s.mu.Unlock()
	}
	a.markMu.Lock()
	a.markers = 0
	a.markMu.Unlock()
}

func (a *roomAudience) collect(p *Point, wall float64) {
	var t roomStats
	for i := range a.shards {
		s := &a.shards[i]
		s.mu.Lock()
		t.add(&s.st)
		s.mu.Unlock()
	}
	a.markMu.Lock()
	markers := a.markers
	a.markMu.Unlock()
	f := &RoomFigures{
		VoteRate: a.cfg.VoteRate, ChatRate: a.cfg.ChatRate, ReactRate: a.cfg.ReactRate,
		VotesPerSecond: float64(t.ok[cmdVote]) / wall,
		VoteAck:        histQuantiles(&t.ackLat[cmdVote]),
		ChatAck:        histQuantiles(&t.ackLat[cmdChat]),
		Sent:           map[string]uint64{}, Accepted: map[string]uint64{},
		Refused: t.refused, Backlog: t.backlog, Unmatched: t.unmatched,
		Fanout: histQuantiles(&t.fanLat), Markers: markers, MarkerDeliveries: t.fanLat.Count(),
		ChatDeliveriesPerSecond: float64(t.chatMsgs) / wall,
		EventMessagesPerSecond:  float64(t.eventMsgs) / wall,
		ReceivedMbps:            float64(t.bytes) * 8 / wall / 1e6,
		Resumed:                 t.resumed,
	}
	for k := range cmdKinds {
		f.Sent[cmdNames[k]] = t.sent[k]
		f.Accepted[cmdNames[k]] = t.ok[k]
	}
	p.Room = f
	p.Latency = f.Fanout
}

func (a *roomAudience) close() {
	if a.pollers != nil {
		a.pollers.close()
	}
}

// roomMaxMessage bounds a viewer-channel message the room clients take.
const roomMaxMessage = 64 << 20

// splitFrames hands each whole server frame at the front of data to fn
// (its opcode and payload) until fn returns false, and returns what is
// left: an incomplete frame, to complete with the next read. A frame
// longer than max is an error, so a bad length cannot grow the
// remainder without bound.
func splitFrames(data []byte, max uint64, fn func(op byte, msg []byte) bool) ([]byte, error) {
	for {
		h, hl, err := websocket.ParseHeader(data)
		if errors.Is(err, websocket.ErrNeedMore) {
			return data, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Length > max {
			return nil, fmt.Errorf("loadtest: a %d-byte message, over %d", h.Length, max)
		}
		if uint64(len(data)-hl) < h.Length {
			return data, nil
		}
		msg := data[hl : hl+int(h.Length)]
		data = data[hl+int(h.Length):]
		if !fn(h.Opcode, msg) {
			return data, nil
		}
	}
}
