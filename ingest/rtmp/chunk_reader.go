package rtmp

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Chunk format (RTMP 5.3.1):
//
//	+--------------+----------------+--------------------+--------------+
//	| Basic Header | Message Header | Extended Timestamp |  Chunk Data  |
//	|  1-3 bytes   | 0, 3, 7 or 11  |    0 or 4 bytes    |              |
//	+--------------+----------------+--------------------+--------------+
//
// Basic header (5.3.1.1): fmt (2 bits) and cs id (6 bits); cs id 0 means a
// second byte follows (id = 64 + byte), cs id 1 means two follow (id = 64 +
// byte1 + 256*byte2), covering chunk stream IDs 2..65599.
//
// Message header (5.3.1.2), by fmt:
//
//	0: timestamp(3) message length(3) type id(1) stream id(4, little endian)
//	1: timestamp delta(3) message length(3) type id(1)
//	2: timestamp delta(3)
//	3: nothing: everything as the previous chunk of the chunk stream
//
// A timestamp field of 0xFFFFFF means the 4-byte Extended Timestamp follows
// (5.3.1.3). A type 3 chunk carries it too when the chunk stream's last
// type 0, 1 or 2 header had one, both inside a message and at the start of a
// new one.

const (
	// DefaultChunkSize is the chunk size in force until Set Chunk Size (RTMP 5.4.1).
	DefaultChunkSize = 128
	// MaxChunkSize is the largest chunk size Set Chunk Size can carry.
	MaxChunkSize = 1<<31 - 1
	// DefaultMaxMessageSize bounds reassembled messages unless configured.
	DefaultMaxMessageSize = 16 << 20
	// DefaultMaxChunkStreams bounds the chunk streams one peer may use.
	DefaultMaxChunkStreams = 64

	extendedTimestamp = 0xFFFFFF
)

// chunkStream is the state of one chunk stream: the last header seen and
// the message being reassembled.
type chunkStream struct {
	hasHeader bool
	timestamp uint32 // of the current message
	delta     uint32 // the timestamp field of the last type 0/1/2 header
	length    uint32
	typ       uint8
	streamID  uint32
	extended  bool // the last type 0/1/2 header used the extended timestamp
	buf       []byte
	inMessage bool // buf holds part of a message
}

// ChunkReader reassembles RTMP messages from a chunk stream. It applies the
// peer's Set Chunk Size and Abort messages itself (and also returns them).
// It is not safe for concurrent use.
type ChunkReader struct {
	r         io.Reader
	chunkSize uint32
	streams   map[uint32]*chunkStream
	hdr       [16]byte

	// MaxMessageSize bounds a message's length; larger ones fail with
	// ErrMessageSize. Memory grows only as chunk data arrives.
	MaxMessageSize uint32
	// MaxChunkStreams bounds the number of chunk streams.
	MaxChunkStreams int
}

// NewChunkReader returns a ChunkReader reading from r (which should be
// buffered).
func NewChunkReader(r io.Reader) *ChunkReader {
	return &ChunkReader{
		r:               r,
		chunkSize:       DefaultChunkSize,
		streams:         make(map[uint32]*chunkStream),
		MaxMessageSize:  DefaultMaxMessageSize,
		MaxChunkStreams: DefaultMaxChunkStreams,
	}
}

// ChunkSize returns the peer's current chunk size.
func (c *ChunkReader) ChunkSize() uint32 { return c.chunkSize }

func (c *ChunkReader) read(n int) ([]byte, error) {
	if _, err := io.ReadFull(c.r, c.hdr[:n]); err != nil {
		return nil, err
	}
	return c.hdr[:n], nil
}

// ReadMessage reads chunks until a message is complete and returns it. The
// payload is freshly allocated and belongs to the caller. Errors other than
// io.EOF at a chunk boundary leave the reader unusable.
func (c *ChunkReader) ReadMessage() (*Message, error) {
	first := true
	for {
		m, err := c.readChunk()
		if err != nil {
			if err == io.EOF && !first {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		first = false
		if m == nil {
			continue
		}
		switch m.Type {
		case TypeSetChunkSize:
			size, err := ParseU32(m.Payload)
			if err != nil {
				return nil, err
			}
			// The top bit must be zero (5.4.1); sizes 1..2^31-1 are valid.
			if size == 0 || size > MaxChunkSize {
				return nil, fmt.Errorf("%w: %d", ErrChunkSize, size)
			}
			c.chunkSize = size
		case TypeAbort:
			if id, err := ParseU32(m.Payload); err == nil {
				if cs := c.streams[id]; cs != nil {
					cs.buf, cs.inMessage = nil, false
				}
			}
		}
		return m, nil
	}
}

// readChunk reads one chunk and returns the message it completes, if any.
func (c *ChunkReader) readChunk() (*Message, error) {
	b, err := c.read(1)
	if err != nil {
		return nil, err
	}
	format := b[0] >> 6
	csid := uint32(b[0] & 0x3f)
	switch csid {
	case 0:
		if b, err = c.read(1); err != nil {
			return nil, unexpected(err)
		}
		csid = 64 + uint32(b[0])
	case 1:
		if b, err = c.read(2); err != nil {
			return nil, unexpected(err)
		}
		csid = 64 + uint32(b[0]) + 256*uint32(b[1])
	}
	cs := c.streams[csid]
	if cs == nil {
		if len(c.streams) >= c.MaxChunkStreams {
			return nil, fmt.Errorf("%w: %d", ErrTooManyCSIDs, len(c.streams)+1)
		}
		cs = &chunkStream{}
		c.streams[csid] = cs
	}
	if format != 0 && !cs.hasHeader {
		return nil, fmt.Errorf("%w: fmt %d on csid %d", ErrNoHeader, format, csid)
	}

	var tsField uint32
	switch format {
	case 0:
		if b, err = c.read(11); err != nil {
			return nil, unexpected(err)
		}
		tsField = u24(b)
		cs.length = u24(b[3:])
		cs.typ = b[6]
		cs.streamID = binary.LittleEndian.Uint32(b[7:])
	case 1:
		if b, err = c.read(7); err != nil {
			return nil, unexpected(err)
		}
		tsField = u24(b)
		cs.length = u24(b[3:])
		cs.typ = b[6]
	case 2:
		if b, err = c.read(3); err != nil {
			return nil, unexpected(err)
		}
		tsField = u24(b)
	}
	if format != 3 {
		cs.extended = tsField == extendedTimestamp
	}
	if cs.extended {
		if b, err = c.read(4); err != nil {
			return nil, unexpected(err)
		}
		if format != 3 {
			tsField = binary.BigEndian.Uint32(b)
		}
	}
	if format != 3 {
		cs.delta = tsField
	}
	if cs.inMessage && format != 3 {
		// A new header in the middle of a message: the peer gave up on the
		// old one. Start over.
		cs.buf, cs.inMessage = nil, false
	}
	if !cs.inMessage {
		// Start of a message: fix its timestamp.
		if format == 0 {
			cs.timestamp = cs.delta
		} else {
			cs.timestamp += cs.delta
		}
		cs.hasHeader = true
		if cs.length > c.MaxMessageSize {
			return nil, fmt.Errorf("%w: %d bytes", ErrMessageSize, cs.length)
		}
		cs.inMessage = true
		cs.buf = make([]byte, 0, min(cs.length, c.chunkSize, 64<<10))
	}

	// Read this chunk's data in bounded steps so that memory only grows as
	// bytes actually arrive, whatever the length field claims.
	for n := min(cs.length-uint32(len(cs.buf)), c.chunkSize); n > 0; {
		step := min(n, 64<<10)
		start := len(cs.buf)
		cs.buf = append(cs.buf, make([]byte, step)...)
		if _, err := io.ReadFull(c.r, cs.buf[start:]); err != nil {
			return nil, unexpected(err)
		}
		n -= step
	}
	if uint32(len(cs.buf)) < cs.length {
		return nil, nil
	}
	m := &Message{Type: cs.typ, Timestamp: cs.timestamp, StreamID: cs.streamID, CSID: csid, Payload: cs.buf}
	cs.buf, cs.inMessage = nil, false
	return m, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func u24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }
