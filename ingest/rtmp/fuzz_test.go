package rtmp

import (
	"bytes"
	"io"
	"testing"
)

// splitReader returns at most n bytes per Read, as a network read would.
type splitReader struct {
	b []byte
	n int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n, len(r.b))
	copy(p, r.b[:k])
	r.b = r.b[k:]
	return k, nil
}

// FuzzChunkReader reads arbitrary chunk streams, split at arbitrary points;
// whole and split reads must yield the same messages, and whatever is read
// must survive a write and read back.
func FuzzChunkReader(f *testing.F) {
	for _, c := range readerCases {
		f.Add(c.wire, uint8(1))
	}
	for _, c := range writerCases {
		var buf bytes.Buffer
		w := NewChunkWriter(&buf)
		w.WriteMessage(SetChunkSizeMessage(c.chunkSize))
		w.SetChunkSize(c.chunkSize)
		for _, m := range c.msgs {
			w.WriteMessage(m)
		}
		f.Add(buf.Bytes(), uint8(7))
	}
	f.Fuzz(func(t *testing.T, b []byte, split uint8) {
		read := func(r io.Reader) ([]*Message, error) {
			cr := NewChunkReader(r)
			cr.MaxMessageSize = 1 << 20
			var msgs []*Message
			for {
				m, err := cr.ReadMessage()
				if err != nil {
					return msgs, err
				}
				msgs = append(msgs, m)
			}
		}
		whole, errW := read(bytes.NewReader(b))
		parts, errP := read(&splitReader{b: b, n: int(split%32) + 1})
		if len(whole) != len(parts) || (errW == nil) != (errP == nil) {
			t.Fatalf("whole: %d messages, %v; split: %d, %v", len(whole), errW, len(parts), errP)
		}
		var buf bytes.Buffer
		w := NewChunkWriter(&buf)
		for _, m := range whole {
			if m.Type == TypeSetChunkSize || m.Type == TypeAbort {
				continue
			}
			if m.CSID < 2 {
				t.Fatalf("csid %d", m.CSID)
			}
			if err := w.WriteMessage(m); err != nil {
				t.Fatal(err)
			}
		}
		back, err := read(&buf)
		if err != io.EOF {
			t.Fatalf("reading back: %v", err)
		}
		n := 0
		for _, m := range whole {
			if m.Type == TypeSetChunkSize || m.Type == TypeAbort {
				continue
			}
			if !bytes.Equal(back[n].Payload, m.Payload) || back[n].Type != m.Type || back[n].StreamID != m.StreamID {
				t.Fatalf("message %d changed in write/read", n)
			}
			n++
		}
	})
}

// FuzzHandshake answers arbitrary C1s; the response always has the right
// size, and a digest answer always verifies.
func FuzzHandshake(f *testing.F) {
	f.Add(plainC1())
	f.Add(digestC1(0))
	f.Add(digestC1(1))
	f.Fuzz(func(t *testing.T, c1 []byte) {
		if len(c1) < handshakeSize {
			c1 = append(c1, make([]byte, handshakeSize-len(c1))...)
		}
		c1 = c1[:handshakeSize]
		out, kind := ServerResponse(c1, 1)
		if len(out) != 1+2*handshakeSize {
			t.Fatalf("%d bytes", len(out))
		}
		if kind == HandshakeDigest {
			if _, _, ok := findDigest(out[1:1+handshakeSize], serverKeyOpen); !ok {
				t.Fatal("S1 digest does not verify")
			}
		}
		// And the whole exchange over a stream split like a network read.
		in := append([]byte{3}, c1...)
		in = append(in, make([]byte, handshakeSize)...)
		rw := struct {
			io.Reader
			io.Writer
		}{&splitReader{b: in, n: 100}, io.Discard}
		if _, err := ServerHandshake(rw, 0); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzCommand parses arbitrary command payloads.
func FuzzCommand(f *testing.F) {
	for _, c := range commandCases {
		b, _ := c.cmd.Marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err != nil {
			return
		}
		if _, err := c.Marshal(); err != nil {
			t.Fatal(err)
		}
	})
}
