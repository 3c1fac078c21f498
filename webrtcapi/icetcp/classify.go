package icetcp

import "encoding/binary"

// Kind is what the first bytes of a connection say it carries.
type Kind int

// Kinds of connections.
const (
	// NeedMore: the bytes so far do not decide.
	NeedMore Kind = iota
	// ICE: an RFC 4571 frame holding a STUN Binding request, the first
	// thing an active ICE-TCP agent sends (RFC 6544 section 7.2).
	ICE
	// Other: anything else (HTTP, a TLS ClientHello, garbage).
	Other
)

func (k Kind) String() string {
	switch k {
	case ICE:
		return "ICE"
	case Other:
		return "other"
	}
	return "need-more"
}

// ClassifyLen is the number of bytes that always decide: Classify never
// answers NeedMore for ClassifyLen bytes or more.
const ClassifyLen = 10

// Classify tells an ICE-TCP connection from any other by its first bytes.
// It answers as soon as the bytes decide, and its answer for a prefix is
// NeedMore or the answer for every longer input.
//
// ICE-TCP frames each packet with a 16-bit length (RFC 4571 section 2),
// and the first packet is a STUN Binding request (RFC 8489 section 5):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     RFC 4571 LENGTH (20+N)    |0 0|  STUN Message Type 0x0001 |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Message Length (N)        |  Magic Cookie 0x2112A442 ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	  ... Magic Cookie              |  Transaction ID (96 bits) ...
//
// HTTP starts with a method's letters and TLS with a record header
// (0x16 0x03 ...), so neither has the zero byte that Binding's type needs
// at offset 2: both are told apart after three bytes.
func Classify(b []byte) Kind {
	const (
		stunHeader  = 20
		bindingType = 0x0001
		magicCookie = 0x2112A442
	)
	if len(b) > 2 && b[2] != bindingType>>8 {
		return Other
	}
	if len(b) > 3 && b[3] != bindingType&0xff {
		return Other
	}
	if len(b) >= 6 {
		frame := binary.BigEndian.Uint16(b[0:2])
		msg := binary.BigEndian.Uint16(b[4:6])
		if msg%4 != 0 || int(frame) != stunHeader+int(msg) {
			return Other
		}
	}
	if len(b) < ClassifyLen {
		return NeedMore
	}
	if binary.BigEndian.Uint32(b[6:10]) != magicCookie {
		return Other
	}
	return ICE
}
