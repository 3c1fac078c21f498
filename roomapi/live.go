package roomapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/liveloop/liveloop/interact"
	"github.com/liveloop/liveloop/websocket"
)

// The viewer channel, GET /api/v1/streams/{stream}/live (WebSocket, JSON
// text messages).
//
// Down (server to viewer), each message one JSON object:
//
//	{"type":"session","token","viewer","name","role","expiresAt"}  when the server issued a token
//	{"type":"snapshot","seq":N,"data":{chat,pinned,slowMode,chatSync,poll,questions,viewers}}
//	{"type":"events","resumed"?:true,"events":[{"seq"?:N,"type":"chat.message","data":{...}},...]}
//	{"type":"result","key":K,"seq":N,"id":ID}  or  {"type":"result","key":K,"error":{"code","message"}}
//	{"type":"error","error":{"code","message"}}  a command that could not be read
//
// Events come in batches: at once when the room is quiet, else a few per
// second; the host's and moderators' events (a poll opened or closed, a
// host's message, a deletion, a ban) go at once, with what is pending.
// Every logged event has its log sequence; commands appended together
// (group commit) share one, and always arrive in the same message.
// Reactions and presence have none. A client keeps the highest sequence it
// has seen and reconnects with ?since=SEQ: it gets the events it missed
// ({"resumed":true}), or a snapshot if the server no longer has them.
//
// A result's error code "busy" means the room is at capacity (admission
// control: too many commands in flight, or they are answered too slowly);
// nothing was done, and the client retries after a pause with the same
// key. Over REST the same refusal is HTTP 503 with Retry-After.
//
// Up: commands, the shape of interact.Command, each with "mediaTime" (the
// media time, in seconds, of the frame on the viewer's screen) and
// preferably a "key" (idempotency: resending after a reconnect is safe).
func (h *Handler) live(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if !interact.ValidRoom(stream) {
		writeError(w, 404, "not_found", "no such room")
		return
	}
	q := r.URL.Query()
	var since uint64
	if s := q.Get("since"); s != "" {
		var err error
		if since, err = strconv.ParseUint(s, 10, 64); err != nil {
			writeError(w, 400, "bad_request", "since: want a sequence number")
			return
		}
	}
	var (
		actor   interact.Actor
		session *Session
	)
	tok := q.Get("token")
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tok == "" {
		tok = t
	}
	if tok != "" {
		a, err := h.sessions.verify(tok)
		if err != nil {
			writeError(w, 401, "unauthorized", err.Error())
			return
		}
		actor = a
	} else {
		name := q.Get("name")
		if err := validName(name); err != nil {
			writeError(w, 400, "bad_request", err.Error())
			return
		}
		s, err := h.sessions.issue(name, interact.RoleViewer)
		if err != nil {
			writeErr(w, err)
			return
		}
		session = &s
		actor = interact.Actor{ID: s.Viewer, Name: s.Name, Role: s.Role}
	}
	h.mu.Lock()
	full, closed := len(h.conns) >= h.cfg.MaxConns, h.closed
	h.mu.Unlock()
	if full || closed {
		writeError(w, 503, "unavailable", "the node serves all the viewer channels it can")
		return
	}
	sub, err := h.cfg.Rooms.Subscribe(r.Context(), stream, since, actor.Role.Staff())
	if err != nil {
		writeErr(w, err)
		return
	}
	conn, err := websocket.Upgrade(w, r, websocket.Options{MaxMessage: interact.MaxCommandBytes})
	if err != nil {
		sub.Close()
		return
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		sub.Close()
		conn.Close(websocket.CloseGoingAway, "server shutting down")
		return
	}
	h.conns[conn] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	v := &viewerConn{h: h, conn: conn, stream: stream, actor: actor, sub: sub}
	go v.run(session)
}

// viewerConn is one viewer channel: a writer (this goroutine's run) and a
// reader.
type viewerConn struct {
	h      *Handler
	conn   *websocket.Conn
	stream string
	actor  interact.Actor
	sub    *interact.Sub // owned by the writer
	tokens float64
	at     time.Time
}

func (v *viewerConn) run(session *Session) {
	defer v.h.wg.Done()
	defer func() {
		v.h.mu.Lock()
		delete(v.h.conns, v.conn)
		v.h.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer cancel()
		v.read(ctx)
	}()
	v.write(ctx, session)
	v.conn.Close(websocket.CloseNormal, "")
	cancel()
	<-readerDone
	if v.sub != nil {
		v.sub.Close()
	}
}

func (v *viewerConn) write(ctx context.Context, session *Session) {
	if session != nil {
		b, _ := json.Marshal(struct {
			Type string `json:"type"`
			*Session
		}{"session", session})
		if v.conn.WriteText(b) != nil {
			return
		}
	}
	sink := connSink{v.conn}
	// attach hands the subscription to the fan-out; cut off meanwhile,
	// it resumes below.
	attach := func(sub *interact.Sub) bool {
		err := sub.Attach(sink)
		return err == nil || errors.Is(err, interact.ErrCutOff)
	}
	if v.conn.WriteText(v.sub.First) != nil || !attach(v.sub) {
		return
	}
	// The room's fan-out workers write the batches (Sub.Attach); this
	// goroutine writes what the client did not take at once, and
	// resubscribes when the room cuts it off.
	for {
		select {
		case <-v.conn.Pending():
			if v.conn.Flush() != nil {
				return
			}
		case <-v.sub.C():
			// Cut off for lagging (or the room stopped): resume from
			// what was delivered.
			last := v.sub.LastSeq()
			v.sub.Close()
			v.sub = nil
			sub, err := v.h.cfg.Rooms.Subscribe(ctx, v.stream, last, v.actor.Role.Staff())
			if err != nil {
				return
			}
			v.sub = sub
			if v.conn.WriteText(sub.First) != nil || !attach(sub) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// connSink is a viewer channel as the room's fan-out sees it: a batch's
// shared frame goes out with one non-blocking write.
type connSink struct{ conn *websocket.Conn }

func (s connSink) Send(msg, frame []byte) error {
	if frame == nil {
		frame = websocket.AppendFrame(nil, websocket.OpText, msg)
	}
	err := s.conn.Send(frame)
	if errors.Is(err, websocket.ErrClosed) {
		// The viewer is leaving (its goroutines unsubscribe): not a
		// subscriber falling behind.
		return nil
	}
	return err
}

// resultMsg answers one command.
type resultMsg struct {
	Type  string          `json:"type"`
	Key   string          `json:"key,omitempty"`
	Seq   uint64          `json:"seq,omitempty"`
	ID    string          `json:"id,omitempty"`
	Error *interact.Error `json:"error,omitempty"`
}

func (v *viewerConn) read(ctx context.Context) {
	for {
		_, msg, err := v.conn.ReadMessage()
		if err != nil {
			return
		}
		cmd, err := interact.DecodeCommand(msg)
		if err == nil && cmd.MediaTime == nil {
			err = &interact.Error{Code: "bad_request", Message: "mediaTime is required on the viewer channel"}
		}
		if err != nil {
			if v.send(resultMsg{Type: "error", Error: apiError(err)}) != nil {
				return
			}
			continue
		}
		if !v.allow() {
			if v.send(resultMsg{Type: "result", Key: cmd.Key, Error: interact.ErrRateLimited}) != nil {
				return
			}
			continue
		}
		res, err := v.h.cfg.Rooms.Do(ctx, v.stream, v.actor, cmd)
		out := resultMsg{Type: "result", Key: cmd.Key, Seq: res.Seq, ID: res.ID}
		if err != nil {
			out.Error = apiError(err)
			if errors.Is(err, interact.ErrClosed) {
				v.send(out)
				return
			}
		}
		if v.send(out) != nil {
			return
		}
	}
}

func (v *viewerConn) send(m resultMsg) error {
	b, _ := json.Marshal(m)
	return v.conn.WriteText(b)
}

// allow is the connection's command token bucket (reader goroutine only).
func (v *viewerConn) allow() bool {
	now := v.h.cfg.Now()
	burst := float64(v.h.cfg.CommandBurst)
	if v.at.IsZero() {
		v.tokens = burst
	} else {
		v.tokens = min(burst, v.tokens+now.Sub(v.at).Seconds()*v.h.cfg.CommandRate)
	}
	v.at = now
	if v.tokens < 1 {
		return false
	}
	v.tokens--
	return true
}
