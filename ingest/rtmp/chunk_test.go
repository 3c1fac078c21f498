package rtmp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// setChunkSize is a Set Chunk Size message to n on csid 2, as wire bytes.
func setChunkSizeWire(n byte) []byte {
	return []byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, n}
}

func setChunkSizeMsg(n uint32) *Message {
	m := SetChunkSizeMessage(n)
	return m
}

// readerCases are hand-made chunk streams and the messages they carry.
var readerCases = []struct {
	name string
	wire []byte
	msgs []*Message
}{
	{"type 0", cat([]byte{0x03, 0x00, 0x03, 0xe8, 0, 0, 4, 20, 0, 0, 0, 0}, []byte("abcd")),
		[]*Message{{Type: 20, Timestamp: 1000, CSID: 3, Payload: []byte("abcd")}}},
	{"types 1, 2, 3 accumulate deltas", cat(
		[]byte{0x04, 0x00, 0x03, 0xe8, 0, 0, 2, 8, 1, 0, 0, 0, 0xaa, 0xbb},
		[]byte{0x44, 0, 0, 20, 0, 0, 3, 8, 0xcc, 0xdd, 0xee},
		[]byte{0x84, 0, 0, 30, 1, 2, 3},
		[]byte{0xc4, 4, 5, 6}),
		[]*Message{
			{Type: 8, Timestamp: 1000, StreamID: 1, CSID: 4, Payload: []byte{0xaa, 0xbb}},
			{Type: 8, Timestamp: 1020, StreamID: 1, CSID: 4, Payload: []byte{0xcc, 0xdd, 0xee}},
			{Type: 8, Timestamp: 1050, StreamID: 1, CSID: 4, Payload: []byte{1, 2, 3}},
			{Type: 8, Timestamp: 1080, StreamID: 1, CSID: 4, Payload: []byte{4, 5, 6}},
		}},
	{"chunk size change and continuation", cat(setChunkSizeWire(4),
		[]byte{0x05, 0, 0, 7, 0, 0, 10, 9, 1, 0, 0, 0}, seq(10)[:4],
		[]byte{0xc5}, seq(10)[4:8], []byte{0xc5}, seq(10)[8:]),
		[]*Message{setChunkSizeMsg(4), {Type: 9, Timestamp: 7, StreamID: 1, CSID: 5, Payload: seq(10)}}},
	{"extended timestamp, repeated in type 3", cat(setChunkSizeWire(2),
		[]byte{0x06, 0xff, 0xff, 0xff, 0, 0, 3, 9, 1, 0, 0, 0, 0x01, 0x00, 0x00, 0x00, 'x', 'y'},
		[]byte{0xc6, 0x01, 0x00, 0x00, 0x00, 'z'},
		// A new message with type 3: the extended delta applies again.
		[]byte{0xc6, 0x01, 0x00, 0x00, 0x00, 'a', 'b'},
		[]byte{0xc6, 0x01, 0x00, 0x00, 0x00, 'c'}),
		[]*Message{setChunkSizeMsg(2),
			{Type: 9, Timestamp: 0x01000000, StreamID: 1, CSID: 6, Payload: []byte("xyz")},
			{Type: 9, Timestamp: 0x02000000, StreamID: 1, CSID: 6, Payload: []byte("abc")}}},
	{"interleaved chunk streams", cat(setChunkSizeWire(2),
		[]byte{0x04, 0, 0, 1, 0, 0, 4, 8, 1, 0, 0, 0, 'a', 'b'},
		[]byte{0x05, 0, 0, 2, 0, 0, 3, 9, 1, 0, 0, 0, 'x', 'y'},
		[]byte{0xc4, 'c', 'd'},
		[]byte{0xc5, 'z'}),
		[]*Message{setChunkSizeMsg(2),
			{Type: 8, Timestamp: 1, StreamID: 1, CSID: 4, Payload: []byte("abcd")},
			{Type: 9, Timestamp: 2, StreamID: 1, CSID: 5, Payload: []byte("xyz")}}},
	{"two- and three-byte basic headers", cat(
		[]byte{0x00, 0x00, 0, 0, 1, 0, 0, 1, 8, 0, 0, 0, 0, 'a'},
		[]byte{0x00, 0xff, 0, 0, 2, 0, 0, 1, 8, 0, 0, 0, 0, 'b'},
		[]byte{0x01, 0x00, 0x01, 0, 0, 3, 0, 0, 1, 8, 0, 0, 0, 0, 'c'},
		[]byte{0x01, 0xff, 0xff, 0, 0, 4, 0, 0, 1, 8, 0, 0, 0, 0, 'd'},
		[]byte{0xc1, 0xff, 0xff, 'e'}),
		[]*Message{
			{Type: 8, Timestamp: 1, CSID: 64, Payload: []byte("a")},
			{Type: 8, Timestamp: 2, CSID: 319, Payload: []byte("b")},
			{Type: 8, Timestamp: 3, CSID: 320, Payload: []byte("c")},
			{Type: 8, Timestamp: 4, CSID: 65599, Payload: []byte("d")},
			{Type: 8, Timestamp: 8, CSID: 65599, Payload: []byte("e")},
		}},
	{"abort drops a partial message", cat(setChunkSizeWire(2),
		[]byte{0x04, 0, 0, 1, 0, 0, 4, 8, 1, 0, 0, 0, 'a', 'b'},
		[]byte{0x02, 0, 0, 0, 0, 0, 4, 2, 0, 0, 0, 0, 0, 0}, []byte{0xc2, 0, 4},
		[]byte{0x04, 0, 0, 9, 0, 0, 1, 8, 1, 0, 0, 0, 'z'}),
		[]*Message{setChunkSizeMsg(2),
			{Type: TypeAbort, CSID: 2, Payload: []byte{0, 0, 0, 4}},
			{Type: 8, Timestamp: 9, StreamID: 1, CSID: 4, Payload: []byte("z")}}},
}

func readAll(r io.Reader) ([]*Message, error) {
	cr := NewChunkReader(r)
	var msgs []*Message
	for {
		m, err := cr.ReadMessage()
		if err == io.EOF {
			return msgs, nil
		}
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, m)
	}
}

func TestChunkReader(t *testing.T) {
	for _, c := range readerCases {
		for _, split := range []string{"whole", "byte by byte"} {
			t.Run(c.name+"/"+split, func(t *testing.T) {
				var r io.Reader = bytes.NewReader(c.wire)
				if split != "whole" {
					r = iotest.OneByteReader(r)
				}
				msgs, err := readAll(r)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(msgs, c.msgs) {
					t.Fatalf("got %s\nwant %s", dump(msgs), dump(c.msgs))
				}
			})
		}
	}
}

func dump(ms []*Message) string {
	var b bytes.Buffer
	for _, m := range ms {
		fmt.Fprintf(&b, "{type %d ts %d sid %d csid %d % x}\n", m.Type, m.Timestamp, m.StreamID, m.CSID, m.Payload)
	}
	return b.String()
}

// writerCases are written by ChunkWriter and read back by ChunkReader.
var writerCases = []struct {
	name      string
	chunkSize uint32
	msgs      []*Message
}{
	{"single", 128, []*Message{{Type: 20, CSID: 3, Payload: []byte("hello")}}},
	{"multi-chunk", 128, []*Message{{Type: 9, Timestamp: 40, StreamID: 1, CSID: 6, Payload: seq(1000)}}},
	{"big chunks", 4096, []*Message{{Type: 9, Timestamp: 40, StreamID: 1, CSID: 6, Payload: seq(10000)}}},
	{"regular audio: type 3 headers", 128, []*Message{
		{Type: 8, Timestamp: 0, StreamID: 1, CSID: 4, Payload: seq(10)},
		{Type: 8, Timestamp: 23, StreamID: 1, CSID: 4, Payload: seq(10)},
		{Type: 8, Timestamp: 46, StreamID: 1, CSID: 4, Payload: seq(10)},
		{Type: 8, Timestamp: 69, StreamID: 1, CSID: 4, Payload: seq(10)},
		{Type: 8, Timestamp: 93, StreamID: 1, CSID: 4, Payload: seq(11)},
	}},
	{"timestamp going back", 128, []*Message{
		{Type: 9, Timestamp: 100, StreamID: 1, CSID: 6, Payload: seq(3)},
		{Type: 9, Timestamp: 50, StreamID: 1, CSID: 6, Payload: seq(3)},
	}},
	{"extended timestamps", 64, []*Message{
		{Type: 9, Timestamp: 0xFFFFFF, StreamID: 1, CSID: 6, Payload: seq(200)},
		{Type: 9, Timestamp: 0xFFFFFF + 33, StreamID: 1, CSID: 6, Payload: seq(200)},
		{Type: 9, Timestamp: 0x7FFFFFFF, StreamID: 1, CSID: 6, Payload: seq(100)},
		{Type: 9, Timestamp: 0xFFFFFFFF, StreamID: 1, CSID: 6, Payload: seq(100)},
		{Type: 9, Timestamp: 0xFFFFFFFF, StreamID: 1, CSID: 6, Payload: seq(100)},
	}},
	{"many chunk streams", 128, []*Message{
		{Type: 8, CSID: 2, Payload: []byte{1}},
		{Type: 8, CSID: 63, Payload: []byte{2}},
		{Type: 8, CSID: 64, Payload: []byte{3}},
		{Type: 8, CSID: 319, Payload: []byte{4}},
		{Type: 8, CSID: 320, Payload: seq(300)},
		{Type: 8, CSID: 65599, Payload: seq(300)},
		{Type: 18, StreamID: 7, CSID: 65599, Payload: []byte{}},
	}},
}

func TestChunkWriter(t *testing.T) {
	for _, c := range writerCases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewChunkWriter(&buf)
			want := c.msgs
			if c.chunkSize != DefaultChunkSize {
				m := SetChunkSizeMessage(c.chunkSize)
				w.WriteMessage(m)
				w.SetChunkSize(c.chunkSize)
				want = append([]*Message{m}, want...)
			}
			for _, m := range c.msgs {
				if err := w.WriteMessage(m); err != nil {
					t.Fatal(err)
				}
			}
			got, err := readAll(iotest.HalfReader(&buf))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %s\nwant %s", dump(got), dump(want))
			}
		})
	}
}

func TestChunkWriterCompresses(t *testing.T) {
	var buf bytes.Buffer
	w := NewChunkWriter(&buf)
	w.WriteMessage(&Message{Type: 8, Timestamp: 0, StreamID: 1, CSID: 4, Payload: seq(5)})
	n := buf.Len()
	w.WriteMessage(&Message{Type: 8, Timestamp: 20, StreamID: 1, CSID: 4, Payload: seq(5)})
	w.WriteMessage(&Message{Type: 8, Timestamp: 40, StreamID: 1, CSID: 4, Payload: seq(5)})
	b := buf.Bytes()[n:]
	// type 2 (delta 20), then type 3.
	want := cat([]byte{0x84, 0, 0, 20}, seq(5), []byte{0xc4}, seq(5))
	if !bytes.Equal(b, want) {
		t.Fatalf("got % x\nwant % x", b, want)
	}
}

func TestChunkReaderErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		wire  []byte
		limit func(*ChunkReader)
		err   error
	}{
		{"no previous header", []byte{0x43, 0, 0, 1, 0, 0, 1, 8, 'a'}, nil, ErrNoHeader},
		{"chunk size zero", cat([]byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0}, []byte{0, 0, 0, 0}), nil, ErrChunkSize},
		{"message too large", []byte{0x03, 0, 0, 0, 0x10, 0, 1, 8, 0, 0, 0, 0},
			func(r *ChunkReader) { r.MaxMessageSize = 1 << 20 }, ErrMessageSize},
		{"too many chunk streams", cat(
			[]byte{0x03, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 'a'},
			[]byte{0x04, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 'a'},
			[]byte{0x05, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0, 'a'}),
			func(r *ChunkReader) { r.MaxChunkStreams = 2 }, ErrTooManyCSIDs},
		{"truncated header", []byte{0x03, 0, 0}, nil, io.ErrUnexpectedEOF},
		{"truncated data", []byte{0x03, 0, 0, 0, 0, 0, 9, 8, 0, 0, 0, 0, 'a'}, nil, io.ErrUnexpectedEOF},
		{"lying length", []byte{0x03, 0, 0, 0, 0xff, 0xff, 0xff, 8, 0, 0, 0, 0, 'a'}, nil, io.ErrUnexpectedEOF},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := NewChunkReader(bytes.NewReader(c.wire))
			if c.limit != nil {
				c.limit(r)
			}
			var err error
			for err == nil {
				_, err = r.ReadMessage()
			}
			if !errors.Is(err, c.err) {
				t.Fatalf("got %v, want %v", err, c.err)
			}
		})
	}
}
