package interact

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"unicode/utf8"
)

// Command types. A command is what a viewer, a moderator or the host asks
// of a room; accepted commands become events in the room's log.
const (
	CmdChatSend   = "chat.send"   // text
	CmdChatDelete = "chat.delete" // id (message); staff
	CmdChatPin    = "chat.pin"    // id (message); staff
	CmdChatUnpin  = "chat.unpin"  // staff
	CmdSlowMode   = "chat.slow"   // seconds (0 turns it off); staff
	CmdChatSync   = "chat.sync"   // enabled; staff (spoiler-free chat, see state.go)
	CmdBan        = "mod.ban"     // viewer; staff
	CmdTimeout    = "mod.timeout" // viewer, seconds; staff
	CmdUnban      = "mod.unban"   // viewer; staff
	CmdPollCreate = "poll.create" // poll; staff
	CmdPollOpen   = "poll.open"   // id; staff
	CmdPollClose  = "poll.close"  // id; staff
	CmdVote       = "poll.vote"   // id, choices
	CmdAsk        = "qa.ask"      // text
	CmdUpvote     = "qa.upvote"   // id
	CmdApprove    = "qa.approve"  // id; staff
	CmdHide       = "qa.hide"     // id; staff
	CmdAnswer     = "qa.answer"   // id; staff
	CmdReact      = "react"       // emoji, count
)

// Limits on a command's fields.
const (
	MaxCommandBytes  = 8 << 10
	MaxKeyLen        = 64
	MaxViewerIDLen   = 64
	MaxIDLen         = 32
	MaxQuestionLen   = 300
	MaxPollOptions   = 10
	MaxPollOptionLen = 100
	MaxPollQuestion  = 200
	MaxPollDuration  = 24 * 3600 // seconds
	MaxTimeout       = 7 * 24 * 3600
	MaxSlowMode      = 3600
	MaxReactCount    = 10
	MaxEmojiLen      = 32
)

// Command is one request to a room. Which fields matter depends on Type
// (see the Cmd constants); the others must be empty.
type Command struct {
	Type string `json:"type"`
	// Key is the client's idempotency key: a command sent twice with the
	// same key (by the same viewer, to the same room) is applied once and
	// answered the same both times.
	Key string `json:"key,omitempty"`
	// MediaTime is the media time, in seconds, of the frame on the
	// sender's screen when they acted. Stored on the event. A chat
	// message without one (REST, the host, a viewer without video) is
	// stamped with the stream's media clock when the room takes it, and
	// one ahead of that clock is brought back to it (see Room.stamp).
	MediaTime *float64  `json:"mediaTime,omitempty"`
	Text      string    `json:"text,omitempty"`
	ID        string    `json:"id,omitempty"`
	Viewer    string    `json:"viewer,omitempty"`
	Seconds   float64   `json:"seconds,omitempty"`
	Choices   []int     `json:"choices,omitempty"`
	Poll      *PollSpec `json:"poll,omitempty"`
	Emoji     string    `json:"emoji,omitempty"`
	Count     int       `json:"count,omitempty"`
	Enabled   *bool     `json:"enabled,omitempty"`
}

// PollSpec describes a poll at creation.
type PollSpec struct {
	Question string   `json:"question"`
	Options  []string `json:"options"`
	// Multiple allows several choices per viewer, at most MaxChoices
	// (default: all options).
	Multiple   bool `json:"multiple,omitempty"`
	MaxChoices int  `json:"maxChoices,omitempty"`
	// Changeable lets a viewer change their vote until the poll closes.
	Changeable bool `json:"changeable,omitempty"`
	// Results is "live" (the default: everyone sees the tally as votes
	// come in) or "close" (the tally is shown to viewers at close only).
	Results string `json:"results,omitempty"`
	// Duration, in seconds, closes the poll that long after it opens;
	// 0 leaves it open until closed.
	Duration float64 `json:"duration,omitempty"`
	// Open opens the poll at once.
	Open bool `json:"open,omitempty"`
}

// Results modes of a poll.
const (
	ResultsLive  = "live"
	ResultsClose = "close"
)

// DecodeCommand parses and validates one command as a client sends it
// (JSON, unknown fields refused).
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	if len(b) > MaxCommandBytes {
		return c, errf(ErrBadRequest.Code, "command larger than %d bytes", MaxCommandBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Command{}, errf(ErrBadRequest.Code, "bad JSON: %v", err)
	}
	if dec.More() {
		return Command{}, errf(ErrBadRequest.Code, "trailing data after the command")
	}
	if err := c.Validate(); err != nil {
		return Command{}, err
	}
	return c, nil
}

// Validate checks the command's fields against its type and the limits
// above. It does not look at any room's state.
func (c *Command) Validate() error {
	bad := func(format string, args ...any) error { return errf(ErrBadRequest.Code, format, args...) }
	if len(c.Key) > MaxKeyLen || !printable(c.Key) {
		return bad("key: at most %d printable characters", MaxKeyLen)
	}
	if c.MediaTime != nil && (math.IsNaN(*c.MediaTime) || math.IsInf(*c.MediaTime, 0) || *c.MediaTime < 0) {
		return bad("mediaTime: want a non-negative number of seconds")
	}
	if math.IsNaN(c.Seconds) || math.IsInf(c.Seconds, 0) || c.Seconds < 0 {
		return bad("seconds: want a non-negative number")
	}
	if len(c.ID) > MaxIDLen || !printable(c.ID) {
		return bad("id: at most %d printable characters", MaxIDLen)
	}
	if len(c.Viewer) > MaxViewerIDLen || !printable(c.Viewer) {
		return bad("viewer: at most %d printable characters", MaxViewerIDLen)
	}
	// used lists the fields the type takes; anything else set is an error.
	var used string
	switch c.Type {
	case CmdChatSend:
		used = "text"
		if err := checkText(c.Text, maxChatRunesAbs); err != nil {
			return err
		}
	case CmdAsk:
		used = "text"
		if err := checkText(c.Text, MaxQuestionLen); err != nil {
			return err
		}
	case CmdChatDelete, CmdChatPin, CmdPollOpen, CmdPollClose, CmdUpvote, CmdApprove, CmdHide, CmdAnswer:
		used = "id"
		if c.ID == "" {
			return bad("%s needs an id", c.Type)
		}
	case CmdChatUnpin:
	case CmdSlowMode:
		used = "seconds"
		if c.Seconds > MaxSlowMode {
			return bad("seconds: at most %d", MaxSlowMode)
		}
	case CmdChatSync:
		used = "enabled"
		if c.Enabled == nil {
			return bad("chat.sync needs enabled: true or false")
		}
	case CmdBan, CmdUnban:
		used = "viewer"
		if c.Viewer == "" {
			return bad("%s needs a viewer", c.Type)
		}
	case CmdTimeout:
		used = "viewer seconds"
		if c.Viewer == "" || c.Seconds <= 0 || c.Seconds > MaxTimeout {
			return bad("%s needs a viewer and 0 < seconds <= %d", c.Type, MaxTimeout)
		}
	case CmdPollCreate:
		used = "poll"
		if c.Poll == nil {
			return bad("poll.create needs a poll")
		}
		if err := c.Poll.validate(); err != nil {
			return err
		}
	case CmdVote:
		used = "id choices"
		if c.ID == "" || len(c.Choices) == 0 || len(c.Choices) > MaxPollOptions {
			return bad("poll.vote needs an id and 1 to %d choices", MaxPollOptions)
		}
		seen := 0
		for _, ch := range c.Choices {
			if ch < 0 || ch >= MaxPollOptions || seen&(1<<ch) != 0 {
				return bad("choices: distinct option indexes from 0")
			}
			seen |= 1 << ch
		}
	case CmdReact:
		used = "emoji count"
		if c.Emoji == "" || len(c.Emoji) > MaxEmojiLen || !utf8.ValidString(c.Emoji) {
			return bad("react needs an emoji")
		}
		if c.Count < 0 || c.Count > MaxReactCount {
			return bad("count: 0 to %d", MaxReactCount)
		}
	case "":
		return bad("missing type")
	default:
		return bad("unknown command type %q", c.Type)
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"text", c.Text != ""}, {"id", c.ID != ""}, {"viewer", c.Viewer != ""},
		{"seconds", c.Seconds != 0}, {"choices", c.Choices != nil}, {"poll", c.Poll != nil},
		{"emoji", c.Emoji != ""}, {"count", c.Count != 0}, {"enabled", c.Enabled != nil},
	} {
		if f.set && !hasWord(used, f.name) {
			return bad("%s does not take %s", c.Type, f.name)
		}
	}
	return nil
}

// maxChatRunesAbs bounds any chat message; a room may set a lower limit.
const maxChatRunesAbs = 2000

func (p *PollSpec) validate() error {
	bad := func(format string, args ...any) error { return errf(ErrBadRequest.Code, format, args...) }
	if err := checkText(p.Question, MaxPollQuestion); err != nil {
		return bad("poll question: %s", err.(*Error).Message)
	}
	if len(p.Options) < 2 || len(p.Options) > MaxPollOptions {
		return bad("poll: 2 to %d options", MaxPollOptions)
	}
	for i, o := range p.Options {
		if err := checkText(o, MaxPollOptionLen); err != nil {
			return bad("poll option %d: %s", i, err.(*Error).Message)
		}
	}
	if p.MaxChoices < 0 || p.MaxChoices > len(p.Options) || (!p.Multiple && p.MaxChoices > 1) {
		return bad("poll: maxChoices must be within the options, and 1 without multiple")
	}
	switch p.Results {
	case "", ResultsLive, ResultsClose:
	default:
		return bad("poll results: %q or %q", ResultsLive, ResultsClose)
	}
	if math.IsNaN(p.Duration) || p.Duration < 0 || p.Duration > MaxPollDuration {
		return bad("poll duration: 0 to %d seconds", MaxPollDuration)
	}
	return nil
}

func checkText(s string, max int) error {
	if !utf8.ValidString(s) {
		return errf(ErrBadRequest.Code, "text is not UTF-8")
	}
	if strings.TrimSpace(s) == "" {
		return errf(ErrBadRequest.Code, "text is empty")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return errf(ErrTooLong.Code, "text is %d characters, at most %d", n, max)
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return errf(ErrBadRequest.Code, "text has control characters")
		}
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func hasWord(list, w string) bool {
	for _, f := range strings.Fields(list) {
		if f == w {
			return true
		}
	}
	return false
}

// StaffOnly reports the command types only moderators and hosts may send.
func StaffOnly(typ string) bool {
	switch typ {
	case CmdChatDelete, CmdChatPin, CmdChatUnpin, CmdSlowMode, CmdChatSync, CmdBan, CmdTimeout, CmdUnban,
		CmdPollCreate, CmdPollOpen, CmdPollClose, CmdApprove, CmdHide, CmdAnswer:
		return true
	}
	return false
}

// ctlCommand reports the command types that change the room's rules and
// must be validated against its latest state: they go to the room's ctl
// subject under optimistic concurrency. The others (chat, votes,
// questions, upvotes) commute, go to the act subject, and are judged when
// the log is applied.
func ctlCommand(typ string) bool { return StaffOnly(typ) }
