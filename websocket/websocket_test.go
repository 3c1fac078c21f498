package websocket

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// headerCases feed the parser test, the writer test and the fuzz seeds.
var headerCases = []struct {
	name   string
	raw    []byte
	want   Header
	hdrLen int
	err    error
}{
	{"short text", []byte{0x81, 0x05}, Header{Fin: true, Opcode: OpText, Length: 5}, 2, nil},
	{"16-bit length", []byte{0x82, 126, 0x01, 0x00}, Header{Fin: true, Opcode: OpBinary, Length: 256}, 4, nil},
	{"64-bit length", []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}, Header{Fin: true, Opcode: OpBinary, Length: 65536}, 10, nil},
	{"masked ping", []byte{0x89, 0x82, 1, 2, 3, 4}, Header{Fin: true, Opcode: OpPing, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 2}, 6, nil},
	{"continuation", []byte{0x00, 0x03}, Header{Opcode: OpContinuation, Length: 3}, 2, nil},
	{"reserved bit", []byte{0xC1, 0x00}, Header{}, 0, ErrProtocol},
	{"reserved opcode", []byte{0x83, 0x00}, Header{}, 0, ErrProtocol},
	{"fragmented ping", []byte{0x09, 0x00}, Header{}, 0, ErrProtocol},
	{"long close", []byte{0x88, 126, 0, 200}, Header{}, 0, ErrProtocol},
	{"top bit length", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, Header{}, 0, ErrProtocol},
	{"truncated", []byte{0x82}, Header{}, 0, ErrNeedMore},
	{"truncated mask", []byte{0x81, 0x81, 1, 2}, Header{}, 0, ErrNeedMore},
}

func TestParseHeader(t *testing.T) {
	for _, tc := range headerCases {
		t.Run(tc.name, func(t *testing.T) {
			h, n, err := ParseHeader(tc.raw)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || n != tc.hdrLen || h != tc.want {
				t.Fatalf("got %+v, %d, %v; want %+v, %d", h, n, err, tc.want, tc.hdrLen)
			}
		})
	}
}

func TestAppendHeaderRoundTrip(t *testing.T) {
	for _, tc := range headerCases {
		if tc.err != nil || !tc.want.Fin {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			var b []byte
			if tc.want.Masked {
				b = AppendMaskedHeader(nil, tc.want.Opcode, int(tc.want.Length), tc.want.Mask)
			} else {
				b = AppendHeader(nil, tc.want.Opcode, int(tc.want.Length))
			}
			if !bytes.Equal(b, tc.raw) {
				t.Fatalf("wrote % x, want % x", b, tc.raw)
			}
		})
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, tc := range headerCases {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ParseHeader(b)
		if err != nil {
			return
		}
		if n > len(b) || n > MaxHeaderLen || n != needed(b) {
			t.Fatalf("header length %d of %d bytes (needed %d)", n, len(b), needed(b))
		}
		// Every prefix is either incomplete or parses the same.
		for i := 0; i < n; i++ {
			if _, _, err := ParseHeader(b[:i]); !errors.Is(err, ErrNeedMore) {
				t.Fatalf("prefix %d: %v, want ErrNeedMore", i, err)
			}
		}
		if h.Fin {
			var w []byte
			if h.Masked {
				w = AppendMaskedHeader(nil, h.Opcode, int(h.Length), h.Mask)
			} else {
				w = AppendHeader(nil, h.Opcode, int(h.Length))
			}
			h2, _, err := ParseHeader(w)
			if err != nil || h2 != h {
				t.Fatalf("rewritten header %+v, %v; want %+v", h2, err, h)
			}
		}
	})
}

func TestAcceptKey(t *testing.T) {
	// The example of RFC 6455 section 1.3.
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("AcceptKey = %q", got)
	}
}

// echoServer upgrades and echoes each message, prefixed, until the client
// closes.
func echoServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, Options{MaxMessage: 1024})
		if err != nil {
			return
		}
		for {
			op, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if op == OpText {
				c.WriteText(append([]byte("echo:"), msg...))
			} else {
				c.WriteBinary([]byte("bin:"), msg, []byte("!"))
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClientServerRoundTrip(t *testing.T) {
	srv := echoServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/x", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(CloseNormal, "")
	big := bytes.Repeat([]byte{7}, 70000) // 64-bit length on the way back
	var buf []byte                        // reused: shorter, then longer messages
	for _, tc := range []struct {
		op   byte
		in   []byte
		want []byte
	}{
		{OpText, []byte("hello"), []byte("echo:hello")},
		{OpBinary, []byte{1, 2, 3}, []byte("bin:\x01\x02\x03!")},
		{OpBinary, big[:1000], append(append([]byte("bin:"), big[:1000]...), '!')},
		{OpText, []byte("hi"), []byte("echo:hi")},
	} {
		if err := c.write(tc.op, tc.in); err != nil {
			t.Fatal(err)
		}
		op, msg, err := c.ReadMessageInto(buf)
		buf = msg
		if err != nil || op != tc.op || !bytes.Equal(msg, tc.want) {
			t.Fatalf("got op %d, %d bytes, %v; want op %d, %d bytes", op, len(msg), err, tc.op, len(tc.want))
		}
	}
	// A message over the server's limit closes the connection with 1009.
	if err := c.WriteBinary(big); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != CloseMessageTooBig {
		t.Fatalf("oversized message: %v, want close 1009", err)
	}
}

func TestUpgradeRejectsPlainRequests(t *testing.T) {
	srv := echoServer(t)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("status %d, want 426", resp.StatusCode)
	}
}
