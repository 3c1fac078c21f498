package interact

import (
	"errors"
	"fmt"
)

// Error is a refusal a client sees: a stable code from the list below and a
// message for people. Errors compare equal under errors.Is when their codes
// are equal, so callers test against the sentinels.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return "interact: " + e.Code + ": " + e.Message }

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

func errf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error codes, and sentinels to test against with errors.Is. These are part
// of the API: clients switch on them.
var (
	ErrBadRequest   = &Error{"bad_request", "the command is malformed"}
	ErrForbidden    = &Error{"forbidden", "your role may not do this"}
	ErrNotFound     = &Error{"not_found", "no such item"}
	ErrRateLimited  = &Error{"rate_limited", "too many commands; slow down"}
	ErrSlowMode     = &Error{"slow_mode", "slow mode is on; wait before posting again"}
	ErrBanned       = &Error{"banned", "you are banned from this chat"}
	ErrPollNotOpen  = &Error{"poll_not_open", "the poll is not open"}
	ErrPollClosed   = &Error{"poll_closed", "the poll is closed"}
	ErrAlreadyVoted = &Error{"already_voted", "you already voted in this poll"}
	ErrConflict     = &Error{"conflict", "the room's state does not allow this"}
	ErrLimit        = &Error{"limit_reached", "a limit of the room is reached"}
	ErrRejected     = &Error{"rejected", "the message was rejected by moderation"}
	ErrTooLong      = &Error{"too_long", "the text is too long"}
	ErrUnavailable  = &Error{"unavailable", "the event log is unavailable; retry with the same key"}
	ErrTimeout      = &Error{"timeout", "the command was not confirmed in time; retry with the same key"}
	// ErrBusy refuses a command at once, before any log work, when the
	// room has MaxInFlight commands in flight or they are taking longer
	// than MaxInFlightAge: the node is at capacity. Nothing was appended;
	// retry after a short pause (HTTP 503 with Retry-After).
	ErrBusy         = &Error{"busy", "the room is at capacity; retry shortly with the same key"}
	ErrTooManyRooms = &Error{"too_many_rooms", "the node serves too many rooms"}
	ErrClosed       = &Error{"closed", "the node is shutting down"}
)
