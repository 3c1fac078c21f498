// Package roomapi is the HTTP face of the rooms (package interact): the
// viewer channel, a WebSocket per viewer at
// GET /api/v1/streams/{stream}/live, and the REST API for viewers,
// moderators and the host (sessions, chat, moderation, polls, Q&A,
// reactions), with its OpenAPI document.
//
// Identity: a session token (JWT, HS256, secret in DataDir/session.key)
// names a viewer, their display name and role. Viewers get anonymous
// tokens from POST /api/v1/session or on first connecting to the viewer
// channel; moderator and host tokens need the admin key (header
// X-Admin-Key) until the security work replaces it.
//
// Life cycle: New loads (or makes) the session secret; Register adds the
// routes to a mux; Close ends every viewer channel and waits for its
// goroutines.
package roomapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/liveloop/liveloop/interact"
	"github.com/liveloop/liveloop/websocket"
)

// Config configures the API.
type Config struct {
	// Rooms is the node's rooms (required).
	Rooms *interact.Rooms
	// DataDir holds the session secret (required).
	DataDir string
	// AdminKey, when set, lets POST /api/v1/session with header
	// X-Admin-Key issue moderator and host tokens. Empty: no staff tokens.
	AdminKey string
	Logger   *slog.Logger
	// TokenTTL is a viewer token's life. Default 30 days.
	TokenTTL time.Duration
	// StaffTTL is a moderator or host token's life. Default 12 h.
	StaffTTL time.Duration
	// CommandRate and CommandBurst bound the commands one viewer channel
	// sends (each feature has its own limits too). Default 20/s, burst 40.
	CommandRate  float64
	CommandBurst int
	// MaxConns bounds open viewer channels. Default 20000.
	MaxConns int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Handler serves the API.
type Handler struct {
	cfg      Config
	log      *slog.Logger
	sessions *sessions

	mu     sync.Mutex
	conns  map[*websocket.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New makes the API handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Rooms == nil || cfg.DataDir == "" {
		return nil, errors.New("roomapi: Rooms and DataDir are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 30 * 24 * time.Hour
	}
	if cfg.StaffTTL <= 0 {
		cfg.StaffTTL = 12 * time.Hour
	}
	if cfg.CommandRate <= 0 {
		cfg.CommandRate = 20
	}
	if cfg.CommandBurst <= 0 {
		cfg.CommandBurst = 40
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 20000
	}
	secret, err := loadSecret(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return &Handler{
		cfg: cfg, log: cfg.Logger,
		sessions: &sessions{secret: secret, ttl: cfg.TokenTTL, staffTTL: cfg.StaffTTL, now: cfg.Now},
		conns:    map[*websocket.Conn]struct{}{},
	}, nil
}

// Register adds every route to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	for _, rt := range h.routes() {
		mux.HandleFunc(rt.method+" "+rt.path, rt.handler)
	}
}

// Close ends every viewer channel and waits for their goroutines.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	for c := range h.conns {
		c.Close(websocket.CloseGoingAway, "server shutting down")
	}
	h.mu.Unlock()
	h.wg.Wait()
	return nil
}

// Auth levels of a route.
const (
	authNone   = ""
	authViewer = "viewer" // any valid session token
	authStaff  = "staff"  // a moderator or host token
)

type route struct {
	method, path string
	summary      string
	auth         string
	request      string // schema name of the JSON body, if any
	response     string // schema name of the 2xx body
	status       int    // success status
	params       []param
	handler      http.HandlerFunc
}

type param struct{ name, in, desc string }

func (h *Handler) routes() []route {
	s := "/api/v1/streams/{stream}"
	cmd := func(typ string) http.HandlerFunc { return h.command(typ) }
	return []route{
		{method: "POST", path: "/api/v1/session", summary: "Issue a session token (viewer; moderator or host with X-Admin-Key)",
			request: "SessionRequest", response: "Session", status: 201, handler: h.postSession},
		{method: "GET", path: s + "/live", summary: "The viewer channel (WebSocket): events down, commands up",
			status: 101, params: []param{{"token", "query", "session token (else one is issued and sent first)"}, {"since", "query", "resume after this event sequence"}, {"name", "query", "display name for an issued token"}},
			handler: h.live},
		{method: "GET", path: s + "/room", summary: "The room's snapshot (as the caller's role sees it)", auth: authNone, response: "Snapshot", status: 200, handler: h.getRoom},
		{method: "POST", path: s + "/commands", summary: "Run any command (the viewer channel's command shape)", auth: authViewer, request: "Command", response: "Result", status: 200, handler: h.postCommand},
		{method: "GET", path: s + "/chat", summary: "Recent chat messages", response: "ChatList", status: 200, handler: h.getChat},
		{method: "POST", path: s + "/chat", summary: "Post a chat message", auth: authViewer, request: "ChatPost", response: "Result", status: 201, handler: cmd(interact.CmdChatSend)},
		{method: "DELETE", path: s + "/chat/{id}", summary: "Delete a chat message", auth: authStaff, response: "Result", status: 200, handler: cmd(interact.CmdChatDelete)},
		{method: "PUT", path: s + "/pin", summary: "Pin a chat message", auth: authStaff, request: "IDBody", response: "Result", status: 200, handler: cmd(interact.CmdChatPin)},
		{method: "DELETE", path: s + "/pin", summary: "Unpin", auth: authStaff, response: "Result", status: 200, handler: cmd(interact.CmdChatUnpin)},
		{method: "PUT", path: s + "/slow-mode", summary: "Set slow mode (seconds between a viewer's messages; 0 is off)", auth: authStaff, request: "SecondsBody", response: "Result", status: 200, handler: cmd(interact.CmdSlowMode)},
		{method: "PUT", path: s + "/chat-sync", summary: "Turn spoiler-free chat on or off (pages show each message when the viewer's picture reaches its mediaTime)", auth: authStaff, request: "EnabledBody", response: "Result", status: 200, handler: cmd(interact.CmdChatSync)},
		{method: "GET", path: s + "/bans", summary: "Current bans and timeouts", auth: authStaff, response: "Bans", status: 200, handler: h.getBans},
		{method: "POST", path: s + "/bans", summary: "Ban a viewer (permanently, or for seconds: a timeout)", auth: authStaff, request: "BanBody", response: "Result", status: 201, handler: h.postBan},
		{method: "DELETE", path: s + "/bans/{viewer}", summary: "Lift a ban or timeout", auth: authStaff, response: "Result", status: 200, handler: cmd(interact.CmdUnban)},
		{method: "GET", path: s + "/polls", summary: "Polls (drafts for staff only)", response: "PollList", status: 200, handler: h.getPolls},
		{method: "POST", path: s + "/polls", summary: "Create a poll (open at once with open: true)", auth: authStaff, request: "PollSpec", response: "Result", status: 201, handler: cmd(interact.CmdPollCreate)},
		{method: "GET", path: s + "/polls/{id}", summary: "A poll and its results (if visible to the caller)", response: "Poll", status: 200, handler: h.getPoll},
		{method: "POST", path: s + "/polls/{id}/open", summary: "Open a poll", auth: authStaff, request: "Empty", response: "Result", status: 200, handler: cmd(interact.CmdPollOpen)},
		{method: "POST", path: s + "/polls/{id}/close", summary: "Close a poll", auth: authStaff, request: "Empty", response: "Result", status: 200, handler: cmd(interact.CmdPollClose)},
		{method: "POST", path: s + "/polls/{id}/votes", summary: "Vote", auth: authViewer, request: "VoteBody", response: "Result", status: 201, handler: cmd(interact.CmdVote)},
		{method: "GET", path: s + "/questions", summary: "Questions by upvotes (status=pending|hidden for staff)", response: "QuestionList", status: 200,
			params: []param{{"status", "query", "pending, visible or hidden (staff)"}}, handler: h.getQuestions},
		{method: "POST", path: s + "/questions", summary: "Ask a question", auth: authViewer, request: "ChatPost", response: "Result", status: 201, handler: cmd(interact.CmdAsk)},
		{method: "POST", path: s + "/questions/{id}/upvote", summary: "Upvote a question (once per viewer)", auth: authViewer, request: "Empty", response: "Result", status: 200, handler: cmd(interact.CmdUpvote)},
		{method: "POST", path: s + "/questions/{id}/approve", summary: "Approve a queued question", auth: authStaff, request: "Empty", response: "Result", status: 200, handler: cmd(interact.CmdApprove)},
		{method: "POST", path: s + "/questions/{id}/hide", summary: "Hide a question", auth: authStaff, request: "Empty", response: "Result", status: 200, handler: cmd(interact.CmdHide)},
		{method: "POST", path: s + "/questions/{id}/answer", summary: "Mark a question answered", auth: authStaff, request: "Empty", response: "Result", status: 200, handler: cmd(interact.CmdAnswer)},
		{method: "POST", path: s + "/reactions", summary: "React (aggregated, broadcast as counts)", auth: authViewer, request: "ReactBody", response: "Result", status: 202, handler: cmd(interact.CmdReact)},
	}
}

// writeJSON and writeError follow server/api.go: errors are
// {"error": {"code", "message"}}.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// Status codes of the error codes.
var statusOf = map[string]int{
	"bad_request": 400, "too_long": 400, "unauthorized": 401, "forbidden": 403, "banned": 403,
	"not_found": 404, "conflict": 409, "poll_not_open": 409, "poll_closed": 409, "already_voted": 409,
	"limit_reached": 409, "too_large": 413, "rejected": 422, "rate_limited": 429, "slow_mode": 429,
	"unavailable": 503, "busy": 503, "too_many_rooms": 503, "closed": 503, "timeout": 504,
}

// apiError maps any error to the API's code and message.
func apiError(err error) *interact.Error {
	var ie *interact.Error
	if errors.As(err, &ie) {
		return ie
	}
	return &interact.Error{Code: "unavailable", Message: err.Error()}
}

func writeErr(w http.ResponseWriter, err error) {
	e := apiError(err)
	st := statusOf[e.Code]
	if st == 0 {
		st = 500
	}
	if st == 429 || e.Code == interact.ErrBusy.Code {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, st, e.Code, e.Message)
}

// actor returns the caller named by the Authorization bearer token; ok is
// false (and the error written) if it is required and missing or bad.
func (h *Handler) actor(w http.ResponseWriter, r *http.Request, auth string) (interact.Actor, bool) {
	tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found || tok == "" {
		if auth == authNone {
			return interact.Actor{}, true
		}
		writeError(w, 401, "unauthorized", "a session token is required (Authorization: Bearer; POST /api/v1/session issues one)")
		return interact.Actor{}, false
	}
	a, err := h.sessions.verify(tok)
	if err != nil {
		writeError(w, 401, "unauthorized", err.Error())
		return interact.Actor{}, false
	}
	if auth == authStaff && !a.Role.Staff() {
		writeError(w, 403, "forbidden", "a moderator or host token is required")
		return interact.Actor{}, false
	}
	return a, true
}

// maxBody bounds a request body.
const maxBody = interact.MaxCommandBytes

// readBody decodes a JSON body strictly into v; an empty body is allowed
// when v may stay zero.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeError(w, 400, "bad_request", "reading the body: "+err.Error())
		return false
	}
	if len(body) > maxBody {
		writeError(w, 413, "too_large", fmt.Sprintf("body larger than %d bytes", maxBody))
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return true
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		if err == nil {
			err = errors.New("trailing data")
		}
		writeError(w, 400, "bad_request", "bad JSON body: "+err.Error())
		return false
	}
	return true
}

// SessionRequest asks for a session token.
type SessionRequest struct {
	Name string        `json:"name,omitempty"`
	Role interact.Role `json:"role,omitempty"`
}

func (h *Handler) postSession(w http.ResponseWriter, r *http.Request) {
	var req SessionRequest
	if !readBody(w, r, &req) {
		return
	}
	if req.Role == "" {
		req.Role = interact.RoleViewer
	}
	if !req.Role.Valid() {
		writeError(w, 400, "bad_request", "role: viewer, moderator or host")
		return
	}
	if err := validName(req.Name); err != nil {
		writeError(w, 400, "bad_request", err.Error())
		return
	}
	if req.Role.Staff() {
		key := r.Header.Get("X-Admin-Key")
		if h.cfg.AdminKey == "" || subtle.ConstantTimeCompare([]byte(key), []byte(h.cfg.AdminKey)) != 1 {
			writeError(w, 403, "forbidden", "moderator and host tokens need the admin key (X-Admin-Key)")
			return
		}
	}
	s, err := h.sessions.issue(req.Name, req.Role)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 201, s)
}

// command serves a route that runs one command of type typ: the body
// gives the command's fields, the path its target.
func (h *Handler) command(typ string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := authViewer
		if interact.StaffOnly(typ) {
			auth = authStaff
		}
		a, ok := h.actor(w, r, auth)
		if !ok {
			return
		}
		var cmd interact.Command
		if typ == interact.CmdPollCreate {
			var spec struct {
				interact.PollSpec
				Key       string   `json:"key,omitempty"`
				MediaTime *float64 `json:"mediaTime,omitempty"`
			}
			if !readBody(w, r, &spec) {
				return
			}
			cmd = interact.Command{Poll: &spec.PollSpec, Key: spec.Key, MediaTime: spec.MediaTime}
		} else if !readBody(w, r, &cmd) {
			return
		}
		if cmd.Type != "" && cmd.Type != typ {
			writeError(w, 400, "bad_request", fmt.Sprintf("type %q does not belong on this route", cmd.Type))
			return
		}
		cmd.Type = typ
		if id := r.PathValue("id"); id != "" {
			cmd.ID = id
		}
		if v := r.PathValue("viewer"); v != "" {
			cmd.Viewer = v
		}
		h.run(w, r, a, cmd)
	}
}

func (h *Handler) run(w http.ResponseWriter, r *http.Request, a interact.Actor, cmd interact.Command) {
	if k := r.Header.Get("Idempotency-Key"); k != "" && cmd.Key == "" {
		cmd.Key = k
	}
	res, err := h.cfg.Rooms.Do(r.Context(), r.PathValue("stream"), a, cmd)
	if err != nil {
		writeErr(w, err)
		return
	}
	st := 200
	switch cmd.Type {
	case interact.CmdChatSend, interact.CmdPollCreate, interact.CmdVote, interact.CmdAsk, interact.CmdBan, interact.CmdTimeout:
		st = 201
	case interact.CmdReact:
		st = 202
	}
	writeJSON(w, st, res)
}

func (h *Handler) postCommand(w http.ResponseWriter, r *http.Request) {
	a, ok := h.actor(w, r, authViewer)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		writeError(w, 413, "too_large", fmt.Sprintf("body larger than %d bytes", maxBody))
		return
	}
	cmd, err := interact.DecodeCommand(body)
	if err != nil {
		writeErr(w, err)
		return
	}
	h.run(w, r, a, cmd)
}

// BanBody bans a viewer; with seconds, for that long (a timeout).
type BanBody struct {
	Viewer    string   `json:"viewer"`
	Seconds   float64  `json:"seconds,omitempty"`
	Key       string   `json:"key,omitempty"`
	MediaTime *float64 `json:"mediaTime,omitempty"`
}

func (h *Handler) postBan(w http.ResponseWriter, r *http.Request) {
	a, ok := h.actor(w, r, authStaff)
	if !ok {
		return
	}
	var b BanBody
	if !readBody(w, r, &b) {
		return
	}
	cmd := interact.Command{Type: interact.CmdBan, Viewer: b.Viewer, Key: b.Key, MediaTime: b.MediaTime}
	if b.Seconds != 0 {
		cmd.Type, cmd.Seconds = interact.CmdTimeout, b.Seconds
	}
	h.run(w, r, a, cmd)
}

func (h *Handler) getRoom(w http.ResponseWriter, r *http.Request) {
	a, ok := h.actor(w, r, authNone)
	if !ok {
		return
	}
	snap, err := h.cfg.Rooms.Snapshot(r.Context(), r.PathValue("stream"), a.Role.Staff())
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, snap)
}

func (h *Handler) getChat(w http.ResponseWriter, r *http.Request) {
	a, ok := h.actor(w, r, authNone)
	if !ok {
		return
	}
	snap, err := h.cfg.Rooms.Snapshot(r.Context(), r.PathValue("stream"), a.Role.Staff())
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"messages": snap.Chat, "pinned": snap.Pinned, "slowMode": snap.SlowMode})
}

func (h *Handler) getBans(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.actor(w, r, authStaff); !ok {
		return
	}
	snap, err := h.cfg.Rooms.Snapshot(r.Context(), r.PathValue("stream"), true)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"bans": snap.Bans})
}

func (h *Handler) getPolls(w http.ResponseWriter, r *http.Request) {
	a, ok := h.actor(w, r, authNone)
	if !ok {
		return
	}
	list, err := h.cfg.Rooms.Polls(r.Context(), r.PathValue("stream"), a.Role.Staff())
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"polls": list})
}

func (h *Handler) getPoll(w http.ResponseWriter, r *http.Request) {
	a, ok := h.actor(w, r, authNone)
	if !ok {
		return
	}
	p, err := h.cfg.Rooms.Poll(r.Context(), r.PathValue("stream"), r.PathValue("id"), a.Role.Staff())
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, p)
}

func (h *Handler) getQuestions(w http.ResponseWriter, r *http.Request) {
	a, ok := h.actor(w, r, authNone)
	if !ok {
		return
	}
	status := r.URL.Query().Get("status")
	switch status {
	case "", interact.QuestionVisible:
		status = ""
	case interact.QuestionPending, interact.QuestionHidden:
		if !a.Role.Staff() {
			writeError(w, 403, "forbidden", "only staff see pending and hidden questions")
			return
		}
	default:
		writeError(w, 400, "bad_request", "status: pending, visible or hidden")
		return
	}
	list, err := h.cfg.Rooms.Questions(r.Context(), r.PathValue("stream"), status, a.Role.Staff())
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"questions": list})
}
