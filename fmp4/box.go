package fmp4

import (
	"encoding/binary"
	"fmt"
	"iter"
)

// BoxType is a box's four-character code (ISO/IEC 14496-12 4.2).
type BoxType [4]byte

// String returns the four characters, or a hex form when they are not
// printable ASCII.
func (t BoxType) String() string {
	for _, c := range t {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("0x%08x", binary.BigEndian.Uint32(t[:]))
		}
	}
	return string(t[:])
}

// Box is one box read by ReadBox. Its fields alias the input.
//
//	aligned(8) class Box (unsigned int(32) boxtype, ...) {   // 14496-12 4.2
//	    unsigned int(32) size;
//	    unsigned int(32) type = boxtype;
//	    if (size==1) unsigned int(64) largesize;
//	    else if (size==0) { } // box extends to end of file
//	    if (boxtype=='uuid') unsigned int(8)[16] usertype;
//	}
type Box struct {
	Type BoxType
	// UserType is the extended type of a 'uuid' box, zero otherwise.
	UserType [16]byte
	// HeaderSize is the number of bytes before Payload: 8, 16, 24 or 32.
	HeaderSize int
	// Payload is the box's content after its header, a sub-slice of the
	// input.
	Payload []byte
}

// Size returns the box's total size in bytes, header included.
func (b Box) Size() int { return b.HeaderSize + len(b.Payload) }

// ReadBox reads the box at the start of b. A size field of 0 means the box
// runs to the end of b (14496-12 4.2). It returns ErrTruncated when b ends
// inside the box and ErrMalformed when the size is smaller than the header.
func ReadBox(b []byte) (Box, error) {
	var box Box
	if len(b) < 8 {
		return box, fmt.Errorf("box header: %w", ErrTruncated)
	}
	size := uint64(binary.BigEndian.Uint32(b))
	copy(box.Type[:], b[4:8])
	hdr := 8
	switch size {
	case 0:
		size = uint64(len(b))
	case 1:
		if len(b) < 16 {
			return box, fmt.Errorf("%v largesize: %w", box.Type, ErrTruncated)
		}
		size = binary.BigEndian.Uint64(b[8:])
		hdr = 16
	}
	if box.Type == typeUUID {
		if len(b) < hdr+16 {
			return box, fmt.Errorf("uuid usertype: %w", ErrTruncated)
		}
		copy(box.UserType[:], b[hdr:hdr+16])
		hdr += 16
	}
	if size < uint64(hdr) {
		return box, fmt.Errorf("%v size %d: %w", box.Type, size, ErrMalformed)
	}
	if size > uint64(len(b)) {
		return box, fmt.Errorf("%v size %d, %d bytes left: %w", box.Type, size, len(b), ErrTruncated)
	}
	box.HeaderSize = hdr
	box.Payload = b[hdr:size]
	return box, nil
}

// Boxes iterates over the consecutive boxes in b. On a malformed or truncated
// box it yields the error (with a zero Box) and stops.
func Boxes(b []byte) iter.Seq2[Box, error] {
	return func(yield func(Box, error) bool) {
		for len(b) > 0 {
			box, err := ReadBox(b)
			if err != nil {
				yield(Box{}, err)
				return
			}
			if !yield(box, nil) {
				return
			}
			b = b[box.Size():]
		}
	}
}

// readFullBox splits a FullBox payload (14496-12 4.2) into version, flags and
// the rest.
func readFullBox(p []byte) (version uint8, flags uint32, rest []byte, err error) {
	if len(p) < 4 {
		return 0, 0, nil, fmt.Errorf("full box header: %w", ErrTruncated)
	}
	v := binary.BigEndian.Uint32(p)
	return uint8(v >> 24), v & 0xFFFFFF, p[4:], nil
}

// Box types this package writes or reads.
var (
	typeUUID = BoxType{'u', 'u', 'i', 'd'}
	typeMoof = BoxType{'m', 'o', 'o', 'f'}
	typeMfhd = BoxType{'m', 'f', 'h', 'd'}
	typeTraf = BoxType{'t', 'r', 'a', 'f'}
	typeTfhd = BoxType{'t', 'f', 'h', 'd'}
	typeTfdt = BoxType{'t', 'f', 'd', 't'}
	typeTrun = BoxType{'t', 'r', 'u', 'n'}
	typeMdat = BoxType{'m', 'd', 'a', 't'}
	typePrft = BoxType{'p', 'r', 'f', 't'}
	typeEmsg = BoxType{'e', 'm', 's', 'g'}
)

// Writing helpers. Writers append a header with a zero size, write the
// content, then patch the size (beginBox/endBox), or compute sizes up front
// on the hot path (fragment.go).

func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// appendZeros appends n zero bytes.
func appendZeros(b []byte, n int) []byte {
	for range n {
		b = append(b, 0)
	}
	return b
}

// appendHeader appends a box header of the given total size (which must fit
// in 32 bits) and type.
func appendHeader(b []byte, size int, typ string) []byte {
	b = appendU32(b, uint32(size))
	return append(b, typ...)
}

// appendFullHeader appends a FullBox header (14496-12 4.2).
func appendFullHeader(b []byte, size int, typ string, version uint8, flags uint32) []byte {
	b = appendHeader(b, size, typ)
	return appendU32(b, uint32(version)<<24|flags&0xFFFFFF)
}

// beginBox appends a header with a placeholder size and returns the box's
// start offset for endBox.
func beginBox(b []byte, typ string) ([]byte, int) {
	return appendHeader(b, 0, typ), len(b)
}

// beginFullBox is beginBox for a FullBox.
func beginFullBox(b []byte, typ string, version uint8, flags uint32) ([]byte, int) {
	return appendFullHeader(b, 0, typ, version, flags), len(b)
}

// endBox patches the size of the box that starts at start. It is used only
// for init segment boxes, which AppendInit keeps far below 4 GiB by bounding
// codec configurations (maxConfigSize).
func endBox(b []byte, start int) []byte {
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}
