package rtmp

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The handshake (RTMP 5.2): the client sends C0 (version 3) and C1 (1536
// bytes), the server answers S0, S1 and S2, the client finishes with C2.
//
//	C1/S1 (5.2.3):  +--------+--------+------------------------ - -+
//	                |  time  |  zero  |  random (1528 bytes)        |
//	                +--------+--------+------------------------ - -+
//	C2/S2 (5.2.4):  +--------+--------+------------------------ - -+
//	                |  time  | time2  |  random echo                |
//	                +--------+--------+------------------------ - -+
//
// The "digest" (complex) handshake that Flash Player 9+, FMS and ffmpeg use
// is not in the published specification. Its C1 carries a non-zero version
// in place of "zero" and a 32-byte HMAC-SHA256 digest at a position derived
// from the packet itself, under one of two schemes:
//
//	scheme 0: offset = (p[8]+p[9]+p[10]+p[11]) % 728 + 12
//	scheme 1: offset = (p[772]+p[773]+p[774]+p[775]) % 728 + 776
//
// The digest signs the other 1504 bytes with the first 30 bytes of the
// Flash Player key (client) or the first 36 bytes of the Flash Media Server
// key (server). S2 is 1504 random bytes followed by
// HMAC(HMAC(FMS key, C1 digest), those 1504 bytes). A server that finds no
// valid digest in C1 answers with the plain handshake.

const (
	handshakeSize = 1536
	rtmpVersion   = 3
	digestSize    = sha256.Size
)

// Handshake keys: the ASCII identities followed by 32 shared constant bytes.
var (
	keySuffix = []byte{
		0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1,
		0x02, 0x9e, 0x7e, 0x57, 0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab,
		0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae,
	}
	serverKey     = append([]byte("Genuine Adobe Flash Media Server 001"), keySuffix...) // 68 bytes
	clientKey     = append([]byte("Genuine Adobe Flash Player 001"), keySuffix...)       // 62 bytes
	serverKeyOpen = serverKey[:36]
	clientKeyOpen = clientKey[:30]

	// serverVersion is the version S1 reports in the digest handshake.
	serverVersion = [4]byte{0x0d, 0x0e, 0x0a, 0x0d}
)

// Handshake errors.
var (
	ErrVersion   = errors.New("rtmp: unsupported RTMP version")
	ErrHandshake = errors.New("rtmp: handshake failed")
)

// HandshakeKind says which handshake a client used.
type HandshakeKind int

// Handshake kinds.
const (
	HandshakePlain HandshakeKind = iota
	HandshakeDigest
)

func (k HandshakeKind) String() string {
	if k == HandshakeDigest {
		return "digest"
	}
	return "plain"
}

// digestOffset returns where the digest sits in a C1 or S1 under scheme 0 or 1.
func digestOffset(p []byte, scheme int) int {
	base := 8
	if scheme == 1 {
		base = 772
	}
	sum := int(p[base]) + int(p[base+1]) + int(p[base+2]) + int(p[base+3])
	return sum%728 + base + 4
}

// packetDigest computes the HMAC-SHA256 of p without the digest at off.
func packetDigest(p []byte, off int, key []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(p[:off])
	h.Write(p[off+digestSize:])
	return h.Sum(nil)
}

// imprintDigest writes the digest of p (scheme, key) into p.
func imprintDigest(p []byte, scheme int, key []byte) {
	off := digestOffset(p, scheme)
	copy(p[off:], packetDigest(p, off, key))
}

// findDigest looks for a valid digest in a C1 or S1 under either scheme and
// returns it with the scheme.
func findDigest(p []byte, key []byte) (digest []byte, scheme int, ok bool) {
	if len(p) != handshakeSize {
		return nil, 0, false
	}
	for scheme := range 2 {
		off := digestOffset(p, scheme)
		if hmac.Equal(p[off:off+digestSize], packetDigest(p, off, key)) {
			return bytes.Clone(p[off : off+digestSize]), scheme, true
		}
	}
	return nil, 0, false
}

// s2Digest returns the signature of the first 1504 bytes of a C2/S2, keyed
// by the peer's C1/S1 digest.
func s2Digest(p []byte, peerDigest, key []byte) []byte {
	k := hmac.New(sha256.New, key)
	k.Write(peerDigest)
	h := hmac.New(sha256.New, k.Sum(nil))
	h.Write(p[:handshakeSize-digestSize])
	return h.Sum(nil)
}

// ServerResponse builds S0+S1+S2 for a client's C1 (pure). It answers a
// digest C1 with a digest-signed S1 and S2, anything else with the plain
// handshake. epoch is the server's timestamp for S1 (milliseconds).
func ServerResponse(c1 []byte, epoch uint32) ([]byte, HandshakeKind) {
	out := make([]byte, 1+2*handshakeSize)
	out[0] = rtmpVersion
	s1 := out[1 : 1+handshakeSize]
	s2 := out[1+handshakeSize:]
	rand.Read(s1[8:])
	binary.BigEndian.PutUint32(s1, epoch)

	if binary.BigEndian.Uint32(c1[4:8]) != 0 {
		if digest, scheme, ok := findDigest(c1, clientKeyOpen); ok {
			copy(s1[4:8], serverVersion[:])
			imprintDigest(s1, scheme, serverKeyOpen)
			rand.Read(s2)
			copy(s2[handshakeSize-digestSize:], s2Digest(s2, digest, serverKey))
			return out, HandshakeDigest
		}
	}
	// Plain S2 echoes C1 (5.2.4).
	copy(s2, c1)
	binary.BigEndian.PutUint32(s2[4:8], epoch)
	return out, HandshakePlain
}

// ServerHandshake performs the server's side of the handshake over rw.
func ServerHandshake(rw io.ReadWriter, epoch uint32) (HandshakeKind, error) {
	c01 := make([]byte, 1+handshakeSize)
	if _, err := io.ReadFull(rw, c01); err != nil {
		return 0, fmt.Errorf("%w: reading C0/C1: %w", ErrHandshake, err)
	}
	// C0 (5.2.2): 3 is plain RTMP; 6 (RTMPE) and others are not supported.
	if c01[0] != rtmpVersion {
		return 0, fmt.Errorf("%w %d", ErrVersion, c01[0])
	}
	s012, kind := ServerResponse(c01[1:], epoch)
	if _, err := rw.Write(s012); err != nil {
		return kind, fmt.Errorf("%w: writing S0/S1/S2: %w", ErrHandshake, err)
	}
	// C2 is read and not checked: clients differ in what they echo.
	if _, err := io.ReadFull(rw, c01[:handshakeSize]); err != nil {
		return kind, fmt.Errorf("%w: reading C2: %w", ErrHandshake, err)
	}
	return kind, nil
}

// ClientHandshake performs a plain client handshake over rw.
func ClientHandshake(rw io.ReadWriter, epoch uint32) error {
	c01 := make([]byte, 1+handshakeSize)
	c01[0] = rtmpVersion
	binary.BigEndian.PutUint32(c01[1:], epoch)
	rand.Read(c01[9:])
	if _, err := rw.Write(c01); err != nil {
		return fmt.Errorf("%w: writing C0/C1: %w", ErrHandshake, err)
	}
	s012 := make([]byte, 1+2*handshakeSize)
	if _, err := io.ReadFull(rw, s012); err != nil {
		return fmt.Errorf("%w: reading S0/S1/S2: %w", ErrHandshake, err)
	}
	if s012[0] != rtmpVersion {
		return fmt.Errorf("%w %d", ErrVersion, s012[0])
	}
	// C2 echoes S1 (5.2.4).
	c2 := s012[1 : 1+handshakeSize]
	binary.BigEndian.PutUint32(c2[4:8], epoch)
	if _, err := rw.Write(c2); err != nil {
		return fmt.Errorf("%w: writing C2: %w", ErrHandshake, err)
	}
	return nil
}
