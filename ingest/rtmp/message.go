// Package rtmp is Liveloop's RTMP ingest: a server that accepts publishers
// (OBS, ffmpeg, hardware encoders) at rtmp://HOST:PORT/live/{key} and feeds
// their audio and video, through flv.Demuxer, into a media.Sink; and a
// minimal publishing client for tools and tests.
//
// Reference: Adobe RTMP Specification 1.0 (December 2012), cited below as
// "RTMP" with section numbers. The digest handshake, which Flash-era
// encoders and ffmpeg use, is not in that document; see handshake.go.
//
// Layout: message.go, chunk_reader.go, chunk_writer.go, command.go and
// handshake.go are pure parsing and encoding (no net, no goroutines, no
// logger); session.go is the per-connection state machine; server.go and
// client.go do the I/O.
package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Message type IDs (RTMP 5.4, 7.1).
const (
	TypeSetChunkSize     uint8 = 1
	TypeAbort            uint8 = 2
	TypeAcknowledgement  uint8 = 3
	TypeUserControl      uint8 = 4
	TypeWindowAckSize    uint8 = 5
	TypeSetPeerBandwidth uint8 = 6
	TypeAudio            uint8 = 8
	TypeVideo            uint8 = 9
	TypeDataAMF3         uint8 = 15
	TypeCommandAMF3      uint8 = 17
	TypeDataAMF0         uint8 = 18
	TypeCommandAMF0      uint8 = 20
	TypeAggregate        uint8 = 22
)

// User control event types (RTMP 7.1.7).
const (
	EventStreamBegin  uint16 = 0
	EventStreamEOF    uint16 = 1
	EventStreamDry    uint16 = 2
	EventSetBufferLen uint16 = 3
	EventRecorded     uint16 = 4
	EventPingRequest  uint16 = 6
	EventPingResponse uint16 = 7
)

// Set Peer Bandwidth limit types (RTMP 5.4.5).
const (
	LimitHard    uint8 = 0
	LimitSoft    uint8 = 1
	LimitDynamic uint8 = 2
)

// Chunk stream IDs used by this package's writers. Protocol control
// messages go on chunk stream 2 (RTMP 5.4).
const (
	csidControl uint32 = 2
	csidCommand uint32 = 3
	csidAudio   uint32 = 4
	csidVideo   uint32 = 6
	csidData    uint32 = 5
)

// Errors.
var (
	ErrShort        = errors.New("rtmp: message truncated")
	ErrChunkSize    = errors.New("rtmp: bad chunk size")
	ErrMessageSize  = errors.New("rtmp: message too large")
	ErrTooManyCSIDs = errors.New("rtmp: too many chunk streams")
	ErrNoHeader     = errors.New("rtmp: chunk continues a chunk stream that has no header")
)

// Message is one RTMP message, reassembled from its chunks (RTMP 6.1).
type Message struct {
	Type uint8
	// Timestamp is in milliseconds, wrapping at 2^32.
	Timestamp uint32
	// StreamID is the message stream ID (0 for control and connection commands).
	StreamID uint32
	// CSID is the chunk stream the message arrived on, or is to be sent on.
	CSID    uint32
	Payload []byte
}

func u32Message(typ uint8, v uint32) *Message {
	return &Message{Type: typ, CSID: csidControl, Payload: binary.BigEndian.AppendUint32(nil, v)}
}

// SetChunkSizeMessage returns a Set Chunk Size message (RTMP 5.4.1).
func SetChunkSizeMessage(size uint32) *Message { return u32Message(TypeSetChunkSize, size&0x7fffffff) }

// AcknowledgementMessage returns an Acknowledgement of seq bytes (RTMP 5.4.3).
func AcknowledgementMessage(seq uint32) *Message { return u32Message(TypeAcknowledgement, seq) }

// WindowAckSizeMessage returns a Window Acknowledgement Size message (RTMP 5.4.4).
func WindowAckSizeMessage(size uint32) *Message { return u32Message(TypeWindowAckSize, size) }

// SetPeerBandwidthMessage returns a Set Peer Bandwidth message (RTMP 5.4.5).
func SetPeerBandwidthMessage(size uint32, limit uint8) *Message {
	m := u32Message(TypeSetPeerBandwidth, size)
	m.Payload = append(m.Payload, limit)
	return m
}

// UserControlMessage returns a User Control message (RTMP 6.2, 7.1.7): an
// event type followed by its data.
func UserControlMessage(event uint16, data ...uint32) *Message {
	p := binary.BigEndian.AppendUint16(nil, event)
	for _, v := range data {
		p = binary.BigEndian.AppendUint32(p, v)
	}
	return &Message{Type: TypeUserControl, CSID: csidControl, Payload: p}
}

// ParseU32 parses the 4-byte payload of Set Chunk Size, Abort,
// Acknowledgement and Window Acknowledgement Size messages.
func ParseU32(p []byte) (uint32, error) {
	if len(p) < 4 {
		return 0, fmt.Errorf("%w: %d-byte control message", ErrShort, len(p))
	}
	return binary.BigEndian.Uint32(p), nil
}

// ParseUserControl parses a User Control message payload into its event
// type and the first 32-bit value of its data (stream ID or timestamp).
func ParseUserControl(p []byte) (event uint16, value uint32, err error) {
	if len(p) < 6 {
		return 0, 0, fmt.Errorf("%w: %d-byte user control message", ErrShort, len(p))
	}
	return binary.BigEndian.Uint16(p), binary.BigEndian.Uint32(p[2:]), nil
}
