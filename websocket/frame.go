package websocket

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Opcodes, RFC 6455 5.2.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// Errors in the framing of what a peer sent.
var (
	ErrProtocol    = errors.New("websocket: protocol error")
	ErrTooLarge    = errors.New("websocket: message too large")
	ErrNeedMore    = errors.New("websocket: incomplete frame header")
	ErrNotUpgraded = errors.New("websocket: not a websocket upgrade request")
)

// Header is a frame header, RFC 6455 5.2:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-------+-+-------------+-------------------------------+
//	|F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//	|I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//	|N|V|V|V|       |S|             |   (if payload len==126/127)   |
//	| |1|2|3|       |K|             |                               |
//	+-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//	|     Extended payload length continued, if payload len == 127  |
//	+ - - - - - - - - - - - - - - - +-------------------------------+
//	|                               |Masking-key, if MASK set to 1  |
//	+-------------------------------+-------------------------------+
type Header struct {
	Fin    bool
	Opcode byte
	Masked bool
	Mask   [4]byte
	Length uint64
}

// MaxHeaderLen is the longest a frame header can be.
const MaxHeaderLen = 14

// ParseHeader parses a frame header from the start of b and returns it with
// its length in bytes. It returns ErrNeedMore if b holds only part of a
// header, and ErrProtocol for headers RFC 6455 forbids (reserved bits without
// an extension, fragmented or oversized control frames, non-minimal lengths
// are tolerated).
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < 2 {
		return Header{}, 0, ErrNeedMore
	}
	h := Header{Fin: b[0]&0x80 != 0, Opcode: b[0] & 0x0f, Masked: b[1]&0x80 != 0}
	if b[0]&0x70 != 0 {
		return h, 0, fmt.Errorf("%w: reserved bits set", ErrProtocol)
	}
	switch h.Opcode {
	case OpContinuation, OpText, OpBinary:
	case OpClose, OpPing, OpPong:
		if !h.Fin {
			return h, 0, fmt.Errorf("%w: fragmented control frame", ErrProtocol)
		}
	default:
		return h, 0, fmt.Errorf("%w: reserved opcode %#x", ErrProtocol, h.Opcode)
	}
	n := 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < n+2 {
			return h, 0, ErrNeedMore
		}
		h.Length = uint64(binary.BigEndian.Uint16(b[n:]))
		n += 2
	case 127:
		if len(b) < n+8 {
			return h, 0, ErrNeedMore
		}
		h.Length = binary.BigEndian.Uint64(b[n:])
		if h.Length>>63 != 0 {
			return h, 0, fmt.Errorf("%w: length has its top bit set", ErrProtocol)
		}
		n += 8
	default:
		h.Length = uint64(l)
	}
	if h.Opcode >= OpClose && h.Length > 125 {
		return h, 0, fmt.Errorf("%w: control frame of %d bytes", ErrProtocol, h.Length)
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, 0, ErrNeedMore
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// AppendHeader appends an unmasked server frame header for a final frame of
// the given opcode and payload length.
func AppendHeader(dst []byte, opcode byte, length int) []byte {
	dst = append(dst, 0x80|opcode)
	switch {
	case length < 126:
		dst = append(dst, byte(length))
	case length <= 0xffff:
		dst = append(dst, 126, byte(length>>8), byte(length))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(length))
	}
	return dst
}

// AppendMaskedHeader appends a masked client frame header.
func AppendMaskedHeader(dst []byte, opcode byte, length int, mask [4]byte) []byte {
	start := len(dst)
	dst = AppendHeader(dst, opcode, length)
	dst[start+1] |= 0x80
	return append(dst, mask[:]...)
}

// MaskBytes applies (or removes) the masking of RFC 6455 5.3 in place; pos is
// the offset of b within the frame's payload.
func MaskBytes(mask [4]byte, pos int, b []byte) {
	for i := range b {
		b[i] ^= mask[(pos+i)&3]
	}
}
