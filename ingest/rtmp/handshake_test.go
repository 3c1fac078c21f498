package rtmp

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// digestC1 builds a C1 the way Flash Player and ffmpeg do: a non-zero
// version and a digest signed with the player key under scheme.
func digestC1(scheme int) []byte {
	c1 := make([]byte, handshakeSize)
	rand.Read(c1[8:])
	binary.BigEndian.PutUint32(c1, 1234)
	copy(c1[4:], []byte{9, 0, 124, 2})
	imprintDigest(c1, scheme, clientKeyOpen)
	return c1
}

func plainC1() []byte {
	c1 := make([]byte, handshakeSize)
	rand.Read(c1[8:])
	binary.BigEndian.PutUint32(c1, 77)
	return c1
}

func TestServerResponse(t *testing.T) {
	broken := digestC1(0)
	broken[digestOffset(broken, 0)] ^= 0xff // bad digest: answered plainly
	for _, c := range []struct {
		name string
		c1   []byte
		kind HandshakeKind
	}{
		{"plain", plainC1(), HandshakePlain},
		{"digest scheme 0", digestC1(0), HandshakeDigest},
		{"digest scheme 1", digestC1(1), HandshakeDigest},
		{"version without digest", broken, HandshakePlain},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, kind := ServerResponse(c.c1, 500)
			if kind != c.kind {
				t.Fatalf("kind %v, want %v", kind, c.kind)
			}
			if len(out) != 1+2*handshakeSize || out[0] != 3 {
				t.Fatalf("S0 %d, %d bytes", out[0], len(out))
			}
			s1, s2 := out[1:1+handshakeSize], out[1+handshakeSize:]
			if binary.BigEndian.Uint32(s1) != 500 {
				t.Fatal("S1 time")
			}
			if kind == HandshakePlain {
				if !bytes.Equal(s2[8:], c.c1[8:]) || !bytes.Equal(s2[:4], c.c1[:4]) {
					t.Fatal("plain S2 does not echo C1")
				}
				return
			}
			// The client checks S1 with the server key, under the scheme it used...
			_, cScheme, _ := findDigest(c.c1, clientKeyOpen)
			_, sScheme, ok := findDigest(s1, serverKeyOpen)
			if !ok || sScheme != cScheme {
				t.Fatalf("S1 digest ok=%v scheme %d, want %d", ok, sScheme, cScheme)
			}
			// ...and S2 with a key derived from its own C1 digest.
			cd, _, _ := findDigest(c.c1, clientKeyOpen)
			if !bytes.Equal(s2[handshakeSize-digestSize:], s2Digest(s2, cd, serverKey)) {
				t.Fatal("S2 signature does not verify")
			}
		})
	}
}

func TestHandshakeOverPipe(t *testing.T) {
	cc, sc := net.Pipe()
	defer cc.Close()
	defer sc.Close()
	errc := make(chan error, 1)
	go func() { errc <- ClientHandshake(cc, 9) }()
	kind, err := ServerHandshake(sc, 1)
	if err != nil || kind != HandshakePlain {
		t.Fatalf("server: %v %v", kind, err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("client: %v", err)
	}
}

func TestHandshakeBadVersion(t *testing.T) {
	in := append([]byte{6}, make([]byte, handshakeSize)...)
	rw := struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(in), io.Discard}
	if _, err := ServerHandshake(rw, 0); err == nil {
		t.Fatal("RTMPE accepted")
	}
}
