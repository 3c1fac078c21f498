package rtmp

import (
	"encoding/binary"
	"fmt"
	"io"
)

// ChunkWriter splits messages into chunks (RTMP 5.3). It compresses headers
// as the spec allows: type 0 for the first message of a chunk stream or a
// change of message stream or a timestamp going back, type 1 when the
// length or type changes, type 2 when only the delta changes, type 3 when
// the header repeats the previous message's. It is not safe for concurrent
// use.
type ChunkWriter struct {
	w         io.Writer
	chunkSize uint32
	streams   map[uint32]*chunkStream
	buf       []byte
}

// NewChunkWriter returns a ChunkWriter writing to w with the default chunk
// size of 128.
func NewChunkWriter(w io.Writer) *ChunkWriter {
	return &ChunkWriter{w: w, chunkSize: DefaultChunkSize, streams: make(map[uint32]*chunkStream)}
}

// SetChunkSize changes the size of the chunks written from now on. Send the
// peer a SetChunkSizeMessage first.
func (c *ChunkWriter) SetChunkSize(n uint32) error {
	if n == 0 || n > MaxChunkSize {
		return fmt.Errorf("%w: %d", ErrChunkSize, n)
	}
	c.chunkSize = n
	return nil
}

// WriteMessage writes m as one or more chunks on chunk stream m.CSID
// (2..65599) in a single Write call.
func (c *ChunkWriter) WriteMessage(m *Message) error {
	var err error
	c.buf, err = c.AppendMessage(c.buf[:0], m)
	if err != nil {
		return err
	}
	_, err = c.w.Write(c.buf)
	return err
}

// AppendMessage appends m's chunks to b, updating the writer's header
// compression state, without writing.
func (c *ChunkWriter) AppendMessage(b []byte, m *Message) ([]byte, error) {
	if m.CSID < 2 || m.CSID > 65599 {
		return nil, fmt.Errorf("rtmp: chunk stream ID %d out of range", m.CSID)
	}
	if len(m.Payload) > 1<<24-1 {
		return nil, fmt.Errorf("%w: %d bytes", ErrMessageSize, len(m.Payload))
	}
	cs := c.streams[m.CSID]
	length := uint32(len(m.Payload))
	format := byte(0)
	var tsField uint32 = m.Timestamp
	if cs == nil {
		cs = &chunkStream{}
		c.streams[m.CSID] = cs
	} else if cs.streamID == m.StreamID && m.Timestamp >= cs.timestamp {
		delta := m.Timestamp - cs.timestamp
		tsField = delta
		switch {
		case cs.length != length || cs.typ != m.Type:
			format = 1
		case cs.delta != delta:
			format = 2
		default:
			format = 3
		}
	}
	cs.hasHeader = true
	cs.timestamp, cs.length, cs.typ, cs.streamID = m.Timestamp, length, m.Type, m.StreamID
	if format != 3 {
		cs.delta = tsField
		cs.extended = tsField >= extendedTimestamp
	}

	for off := uint32(0); ; {
		b = appendBasicHeader(b, format, m.CSID)
		field := min(tsField, extendedTimestamp)
		switch format {
		case 0:
			b = append(b, byte(field>>16), byte(field>>8), byte(field))
			b = append(b, byte(length>>16), byte(length>>8), byte(length), m.Type)
			b = binary.LittleEndian.AppendUint32(b, m.StreamID)
		case 1:
			b = append(b, byte(field>>16), byte(field>>8), byte(field))
			b = append(b, byte(length>>16), byte(length>>8), byte(length), m.Type)
		case 2:
			b = append(b, byte(field>>16), byte(field>>8), byte(field))
		}
		if cs.extended {
			b = binary.BigEndian.AppendUint32(b, cs.delta)
		}
		n := min(length-off, c.chunkSize)
		b = append(b, m.Payload[off:off+n]...)
		off += n
		if off >= length {
			return b, nil
		}
		format = 3
	}
}

func appendBasicHeader(b []byte, format byte, csid uint32) []byte {
	switch {
	case csid < 64:
		return append(b, format<<6|byte(csid))
	case csid < 64+256:
		return append(b, format<<6, byte(csid-64))
	default:
		return append(b, format<<6|1, byte((csid-64)&0xff), byte((csid-64)>>8))
	}
}
