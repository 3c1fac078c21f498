package transcode

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Ogg pages, RFC 3533 6:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| capture_pattern: Magic number for page start "OggS"           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| version       | header_type   | granule_position              |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                                                               |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               | bitstream_serial_number       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                               | page_sequence_number          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                               | CRC_checksum                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                               |page_segments  | segment_table |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| ...                                                           |
//
// Multi-byte fields are little-endian. The segment table holds
// page_segments lacing values; a packet is the concatenation of segments
// up to and including the first one shorter than 255 bytes, and may
// continue on the next page (header_type bit 0 of that page).

// Errors of the Ogg parser.
var (
	// ErrShort means the input ends inside a page: read more and retry.
	ErrShort = errors.New("ogg: short page")
	// ErrInvalid means the input is not an Ogg page.
	ErrInvalid = errors.New("ogg: invalid page")
)

// Header type flags.
const (
	oggContinued = 0x01
	oggBOS       = 0x02
	oggEOS       = 0x04
)

const oggHeaderSize = 27

// Page is one Ogg page.
type Page struct {
	HeaderType byte
	// Granule is the codec-defined position at the end of the last packet
	// that ends on this page; -1 if none does.
	Granule  int64
	Serial   uint32
	Sequence uint32
	// Segments are the lacing values; Data the segments' bytes.
	Segments []byte
	Data     []byte
}

// Continued reports whether the page's first packet began on an earlier
// page.
func (p *Page) Continued() bool { return p.HeaderType&oggContinued != 0 }

// ParsePage parses the page at the start of b, checking its CRC. The
// page's Segments and Data are sub-slices of b. If b holds only part of a
// page it fails with ErrShort.
func ParsePage(b []byte) (p Page, rest []byte, err error) {
	if len(b) < oggHeaderSize {
		if len(b) >= 4 && string(b[:4]) != "OggS" {
			return p, nil, fmt.Errorf("%w: capture pattern %q", ErrInvalid, b[:4])
		}
		return p, nil, ErrShort
	}
	if string(b[:4]) != "OggS" {
		return p, nil, fmt.Errorf("%w: capture pattern %q", ErrInvalid, b[:4])
	}
	if b[4] != 0 {
		return p, nil, fmt.Errorf("%w: version %d", ErrInvalid, b[4])
	}
	n := int(b[26])
	if len(b) < oggHeaderSize+n {
		return p, nil, ErrShort
	}
	seg := b[oggHeaderSize : oggHeaderSize+n]
	size := 0
	for _, s := range seg {
		size += int(s)
	}
	end := oggHeaderSize + n + size
	if len(b) < end {
		return p, nil, ErrShort
	}
	want := binary.LittleEndian.Uint32(b[22:])
	if got := oggCRC(b[:end]); got != want {
		return p, nil, fmt.Errorf("%w: CRC %08x, want %08x", ErrInvalid, got, want)
	}
	p = Page{
		HeaderType: b[5],
		Granule:    int64(binary.LittleEndian.Uint64(b[6:])),
		Serial:     binary.LittleEndian.Uint32(b[14:]),
		Sequence:   binary.LittleEndian.Uint32(b[18:]),
		Segments:   seg,
		Data:       b[oggHeaderSize+n : end : end],
	}
	return p, b[end:], nil
}

// AppendPage appends the page to dst with its CRC. Segments must describe
// Data (their sum is len(Data)) and be at most 255.
func AppendPage(dst []byte, p *Page) []byte {
	start := len(dst)
	dst = append(dst, 'O', 'g', 'g', 'S', 0, p.HeaderType)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(p.Granule))
	dst = binary.LittleEndian.AppendUint32(dst, p.Serial)
	dst = binary.LittleEndian.AppendUint32(dst, p.Sequence)
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = append(dst, byte(len(p.Segments)))
	dst = append(dst, p.Segments...)
	dst = append(dst, p.Data...)
	binary.LittleEndian.PutUint32(dst[start+22:], oggCRC(dst[start:]))
	return dst
}

// Lacing returns the segment table for packets of the given sizes, each
// completed on the page.
func Lacing(sizes ...int) []byte {
	var seg []byte
	for _, n := range sizes {
		for ; n >= 255; n -= 255 {
			seg = append(seg, 255)
		}
		seg = append(seg, byte(n))
	}
	return seg
}

// oggCRC is the CRC-32 of RFC 3533 over a page whose CRC field is taken
// as zero: polynomial 0x04c11db7, initial value 0, no reflection, no final
// XOR.
func oggCRC(page []byte) uint32 {
	var crc uint32
	for i, c := range page {
		if i >= 22 && i < 26 {
			c = 0
		}
		crc = crc<<8 ^ oggTable[byte(crc>>24)^c]
	}
	return crc
}

var oggTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for j := 0; j < 8; j++ {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// packetAssembler joins the segments of consecutive pages of one logical
// stream into packets.
type packetAssembler struct {
	partial []byte
	// inPacket: partial holds the start of a packet continued on the
	// next page.
	inPacket bool
}

// maxPacket bounds a packet the assembler builds (an Opus packet is at
// most 1275 bytes per frame, 120 ms: well under this).
const maxPacket = 1 << 20

// push adds a page and returns the packets it completes, each with the
// page's granule position if it is the last packet ending on the page
// (else -1). A continued page without a packet to continue (a lost page)
// has its leading fragment dropped.
func (a *packetAssembler) push(p *Page, emit func(pkt []byte, granule int64)) error {
	data := p.Data
	if !p.Continued() && a.inPacket {
		a.partial, a.inPacket = a.partial[:0], false // the packet was never finished
	}
	drop := p.Continued() && !a.inPacket
	// Find the last packet that ends on this page.
	lastEnd := -1
	for i, s := range p.Segments {
		if s < 255 {
			lastEnd = i
		}
	}
	for i, s := range p.Segments {
		n := int(s)
		if n > len(data) {
			return fmt.Errorf("%w: segments exceed data", ErrInvalid)
		}
		if !drop {
			if len(a.partial)+n > maxPacket {
				return fmt.Errorf("%w: packet over %d bytes", ErrInvalid, maxPacket)
			}
			a.partial = append(a.partial, data[:n]...)
		}
		data = data[n:]
		if s < 255 {
			if !drop {
				g := int64(-1)
				if i == lastEnd {
					g = p.Granule
				}
				emit(a.partial, g)
			}
			a.partial = a.partial[:0]
			drop = false
		}
	}
	a.inPacket = len(p.Segments) > 0 && p.Segments[len(p.Segments)-1] == 255 && !drop
	return nil
}
