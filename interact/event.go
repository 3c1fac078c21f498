package interact

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Role is what an actor may do in a room.
type Role string

// Roles. Staff (moderators and the host) run polls and moderate.
const (
	RoleViewer    Role = "viewer"
	RoleModerator Role = "moderator"
	RoleHost      Role = "host"
)

// Staff reports whether r moderates.
func (r Role) Staff() bool { return r == RoleModerator || r == RoleHost }

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r == RoleViewer || r.Staff() }

// Actor is who sends a command: a viewer's id (from their session token),
// display name and role.
type Actor struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	Role Role   `json:"role"`
}

// systemActor closes timed polls.
var systemActor = Actor{ID: "system", Name: "system", Role: RoleHost}

// Event is one record of a room's log: an accepted command with who sent
// it, when, and the decisions the appending node made (so that replay on
// any node reaches the same state whatever its configuration).
type Event struct {
	Cmd   Command   `json:"c"`
	Key   string    `json:"k"` // idempotency key, scoped to the actor
	Actor Actor     `json:"a"`
	At    time.Time `json:"at"`          // the appending node's clock
	Node  string    `json:"n,omitempty"` // the appending node
	// HoldUntil, on a chat message, hides it from viewers until then
	// (moderators see it at once and may delete it first).
	HoldUntil time.Time `json:"hold,omitzero"`
	// Pending, on a question, puts it in the moderation queue.
	Pending bool `json:"p,omitempty"`
}

// The log's message formats. The log is durable data: a node reads every
// format written before it, and a message of a format it does not know is
// logged and skipped (its sequence still counts as applied).
//
//	format 1, no "v": one event, the JSON of Event. Every ctl message, and
//	          act messages written before group commit.
//	format 2: {"v":2,"e":[event,...]}, the events of act commands one node
//	          appended together (group commit, see appender.go), applied in
//	          order. Each event keeps its own idempotency key: the
//	          projection, not JetStream's Nats-Msg-Id, drops a repeated one.
//
// An event's sequence is its message's: the events of a batch share it,
// and what they create is named by the sequence and their index in the
// batch (see state.apply).
const (
	formatEvent = 1
	formatBatch = 2
)

// batchHead and batchTail frame the encoded events of a format 2 message;
// the events are separated by commas.
const (
	batchHead = `{"v":2,"e":[`
	batchTail = `]}`
)

// logRecord reads a message of either format.
type logRecord struct {
	V int     `json:"v"`
	E []Event `json:"e"`
}

// decodeLog returns the events of one log message, in order.
func decodeLog(data []byte) ([]Event, error) {
	var rec logRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, err
	}
	switch rec.V {
	case 0, formatEvent:
		ev := make([]Event, 1)
		if err := json.Unmarshal(data, &ev[0]); err != nil {
			return nil, err
		}
		return ev, nil
	case formatBatch:
		return rec.E, nil
	}
	return nil, fmt.Errorf("log format %d is newer than this node's (%d)", rec.V, formatBatch)
}

// encodeBatch returns the format 2 message of events, each already
// encoded as JSON.
func encodeBatch(events ...[]byte) []byte {
	b := []byte(batchHead)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, batchTail...)
}

// The JetStream layout: one stream holds every room's log, two subjects
// per room. Commands that change a room's rules go to ctl and are appended
// with the expected last sequence of that subject (optimistic
// concurrency); commuting audience actions go to act and are judged when
// applied, in stream order. Reactions and presence are not logged: they
// travel on core NATS subjects under live.
const (
	StreamName    = "ROOMS"
	subjectPrefix = "room."
)

func subjCtl(token string) string      { return subjectPrefix + token + ".ctl" }
func subjAct(token string) string      { return subjectPrefix + token + ".act" }
func subjAll(token string) string      { return subjectPrefix + token + ".*" }
func subjReact(token string) string    { return "live." + token + ".react" }
func subjPresence(token string) string { return "live." + token + ".presence" }

// subjectToken turns a room name (a stream name without renditions:
// letters, digits, '_', '-', '.') into one subject token: '.' is the
// subject separator, so it becomes "%2E" ('%' is not allowed in names, so
// the mapping is one to one).
func subjectToken(room string) string { return strings.ReplaceAll(room, ".", "%2E") }

// ValidRoom reports whether name can name a room: a stream name of 1 to
// 128 characters from [A-Za-z0-9_.-], not starting with '.'. Renditions
// ("name/720p") share their stream's room.
func ValidRoom(name string) bool {
	if len(name) == 0 || len(name) > 128 || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}
