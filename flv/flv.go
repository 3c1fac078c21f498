// Package flv reads and writes FLV files and parses FLV tag bodies, the
// payloads that RTMP audio (8), video (9) and data (18) messages also carry.
// Its Demuxer turns those tag bodies into media tracks and frames for a
// media.Sink, and is shared by every ingest that speaks FLV.
//
// References: Adobe Flash Video File Format Specification Version 10.1
// (annex E), and Enhanced RTMP v1 (veovera, 2023) for FourCC video.
//
// Everything here except Demuxer is pure: bytes to values and back.
package flv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Tag types (FLV 10.1 E.4.1).
const (
	TagAudio  uint8 = 8
	TagVideo  uint8 = 9
	TagScript uint8 = 18
)

// Errors.
var (
	ErrSignature   = errors.New("flv: not an FLV file")
	ErrShort       = errors.New("flv: body truncated")
	ErrUnsupported = errors.New("flv: unsupported")
	ErrTagSize     = errors.New("flv: bad tag size")
)

// Header is the FLV file header (E.2).
//
//	 0       1       2       3       4       5       6       7       8
//	+-------+-------+-------+-------+-------+-------+-------+-------+-------+
//	|  'F'  |  'L'  |  'V'  |version| flags |       DataOffset (UI32)       |
//	+-------+-------+-------+-------+-------+-------+-------+-------+-------+
//	flags: bit 2 TypeFlagsAudio, bit 0 TypeFlagsVideo
type Header struct {
	Version  uint8
	HasAudio bool
	HasVideo bool
}

const headerSize = 9

// ReadHeader reads the FLV header, skips any extra header bytes DataOffset
// announces, and reads PreviousTagSize0, leaving r at the first tag.
func ReadHeader(r io.Reader) (Header, error) {
	var b [headerSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Header{}, err
	}
	if b[0] != 'F' || b[1] != 'L' || b[2] != 'V' {
		return Header{}, ErrSignature
	}
	h := Header{Version: b[3], HasAudio: b[4]&0x04 != 0, HasVideo: b[4]&0x01 != 0}
	off := binary.BigEndian.Uint32(b[5:])
	if off < headerSize || off > 1<<20 {
		return Header{}, fmt.Errorf("%w: DataOffset %d", ErrSignature, off)
	}
	// Skip the header's extension (if any) and PreviousTagSize0 (E.3).
	if _, err := io.CopyN(io.Discard, r, int64(off-headerSize)+4); err != nil {
		return Header{}, err
	}
	return h, nil
}

// Append appends the header and PreviousTagSize0.
func (h Header) Append(b []byte) []byte {
	var flags byte
	if h.HasAudio {
		flags |= 0x04
	}
	if h.HasVideo {
		flags |= 0x01
	}
	v := h.Version
	if v == 0 {
		v = 1
	}
	b = append(b, 'F', 'L', 'V', v, flags)
	b = binary.BigEndian.AppendUint32(b, headerSize)
	return binary.BigEndian.AppendUint32(b, 0)
}

// Tag is one FLV tag: its type, its timestamp in milliseconds and its body.
//
// Tag header (E.4.1), 11 bytes:
//
//	+--------+--------------------------+--------------------------+--------+--------------------------+
//	|  type  |   DataSize (UI24)        |   Timestamp (UI24)       | TsExt  |   StreamID (UI24, 0)     |
//	+--------+--------------------------+--------------------------+--------+--------------------------+
//	type: bit 5 Filter (encrypted), bits 0-4 TagType
//
// The timestamp is TsExt<<24 | Timestamp. Each tag is followed by
// PreviousTagSize (UI32) = 11 + DataSize.
type Tag struct {
	Type      uint8
	Timestamp uint32
	Body      []byte
}

const tagHeaderSize = 11

// MaxTagSize is the largest body a tag header can announce (UI24).
const MaxTagSize = 1<<24 - 1

// Reader reads tags from an FLV stream positioned after the header.
type Reader struct {
	r   io.Reader
	hdr [tagHeaderSize]byte
}

// NewReader returns a Reader over r; call ReadHeader on r first.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// ReadTag reads the next tag. It returns io.EOF at a clean end of the stream.
// Encrypted tags (Filter bit) are returned with ErrUnsupported after their
// body has been consumed, so the caller may skip them.
func (r *Reader) ReadTag() (Tag, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = ErrShort
		}
		return Tag{}, err
	}
	h := r.hdr[:]
	t := Tag{
		Type:      h[0] & 0x1f,
		Timestamp: uint32(h[7])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6]),
	}
	size := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	body, err := readBounded(r.r, size)
	if err != nil {
		return Tag{}, err
	}
	t.Body = body
	var pts [4]byte
	if _, err := io.ReadFull(r.r, pts[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = ErrShort
		}
		return Tag{}, err
	}
	// PreviousTagSize is informative; some writers get it wrong, so a
	// mismatch is not fatal.
	if h[0]&0x20 != 0 {
		return t, fmt.Errorf("%w: encrypted tag", ErrUnsupported)
	}
	return t, nil
}

// readBounded reads n bytes, growing the buffer as data arrives so that a
// lying size field cannot make it allocate more than the stream holds.
func readBounded(r io.Reader, n int) ([]byte, error) {
	const step = 64 << 10
	buf := make([]byte, 0, min(n, step))
	for len(buf) < n {
		k := min(n-len(buf), step)
		if cap(buf)-len(buf) < k {
			buf = append(buf, make([]byte, k)...)[:len(buf)]
		}
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+k])
		buf = buf[:len(buf)+m]
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = ErrShort
			}
			return nil, err
		}
	}
	return buf, nil
}

// AppendTag appends t's header, body and PreviousTagSize to b.
func AppendTag(b []byte, t Tag) ([]byte, error) {
	if len(t.Body) > MaxTagSize {
		return nil, ErrTagSize
	}
	n := len(t.Body)
	ts := t.Timestamp
	b = append(b, t.Type&0x1f, byte(n>>16), byte(n>>8), byte(n),
		byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24), 0, 0, 0)
	b = append(b, t.Body...)
	return binary.BigEndian.AppendUint32(b, uint32(tagHeaderSize+n)), nil
}

// Writer writes an FLV stream, for tests and tools.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// WriteHeader writes the file header and PreviousTagSize0.
func (w *Writer) WriteHeader(h Header) error {
	_, err := w.w.Write(h.Append(nil))
	return err
}

// WriteTag writes one tag.
func (w *Writer) WriteTag(t Tag) error {
	var err error
	if w.buf, err = AppendTag(w.buf[:0], t); err != nil {
		return err
	}
	_, err = w.w.Write(w.buf)
	return err
}
