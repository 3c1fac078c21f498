package rtmp

import (
	"errors"
	"fmt"

	"github.com/liveloop/liveloop/flv/amf0"
)

// Command is an AMF0 command message (RTMP 7.1.1, 7.2): a name, a
// transaction ID, a command object (often null) and further arguments.
type Command struct {
	Name   string
	TxnID  float64
	Object any
	Args   []any
}

// ErrCommand reports a command message that does not parse.
var ErrCommand = errors.New("rtmp: malformed command")

// ParseCommand parses a command message payload. For AMF3 command messages
// (type 17) pass the payload after its leading format byte.
func ParseCommand(p []byte) (Command, error) {
	vs, err := amf0.DecodeAll(p)
	if err != nil {
		return Command{}, fmt.Errorf("%w: %w", ErrCommand, err)
	}
	if len(vs) < 1 {
		return Command{}, fmt.Errorf("%w: empty", ErrCommand)
	}
	name, ok := vs[0].(string)
	if !ok {
		return Command{}, fmt.Errorf("%w: name is %T", ErrCommand, vs[0])
	}
	c := Command{Name: name}
	if len(vs) > 1 {
		// Some clients omit the transaction ID for notifications.
		if id, ok := vs[1].(float64); ok {
			c.TxnID = id
		}
	}
	if len(vs) > 2 {
		c.Object = vs[2]
	}
	if len(vs) > 3 {
		c.Args = vs[3:]
	}
	return c, nil
}

// Marshal encodes the command.
func (c Command) Marshal() ([]byte, error) {
	vs := append([]any{c.Name, c.TxnID, c.Object}, c.Args...)
	return amf0.Encode(vs...)
}

// Message returns the command as a message on message stream streamID.
func (c Command) Message(streamID uint32) (*Message, error) {
	p, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	return &Message{Type: TypeCommandAMF0, CSID: csidCommand, StreamID: streamID, Payload: p}, nil
}

// StringArg returns the i-th argument after the command object as a string.
func (c Command) StringArg(i int) (string, bool) {
	if i >= len(c.Args) {
		return "", false
	}
	s, ok := c.Args[i].(string)
	return s, ok
}

// status builds the information object of onStatus and _result replies.
func status(level, code, description string) amf0.Object {
	return amf0.Object{{Key: "level", Value: level}, {Key: "code", Value: code}, {Key: "description", Value: description}}
}
