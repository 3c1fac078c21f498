package g2g

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The barcode: a grid of Cols x Rows square blocks of Block pixels, its top
// left corner at (X, Y) of the picture. Each block is one bit, drawn on the
// luma plane as a flat block (0: luma 16, black; 1: luma 235, white) with
// neutral chroma, so it survives x264 (with Block 16 and X, Y multiples of
// 16 each bit is one whole macroblock) and the YUV-to-RGB conversion of the
// browser. A reader averages the middle half of each block and compares it
// with the midpoint.
//
// The 80 bits, most significant first, row by row:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          capture time, Unix ms (48 bits)                      |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |     frame sequence (16)       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   CRC-16/CCITT-FALSE (16)     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The CRC covers the first 8 bytes; a frame whose CRC does not match (a
// frame caught mid-change, a decoder artifact) is not a sample.

// PayloadBits is the number of bits the barcode carries.
const PayloadBits = 80

// Luma levels of the barcode (video range, BT.601).
const (
	lumaBlack = 16
	lumaWhite = 235
)

// ErrNoCode means a picture holds no barcode that passes its check.
var ErrNoCode = errors.New("g2g: no valid barcode")

// Layout is where the barcode sits in a picture, in pixels.
type Layout struct {
	X, Y  int // top left corner
	Block int // side of one block (one bit)
	Cols  int // blocks per row; Rows is PayloadBits / Cols rounded up
}

// DefaultLayout is 20 x 4 blocks of 16 px at (16, 16): a 320 x 64 px code
// that fits pictures from 352 x 96 up.
func DefaultLayout() Layout { return Layout{X: 16, Y: 16, Block: 16, Cols: 20} }

// Rows returns the number of rows of blocks.
func (l Layout) Rows() int { return (PayloadBits + l.Cols - 1) / l.Cols }

// Check reports whether the barcode fits a w x h picture with whole chroma
// samples (even coordinates and block size).
func (l Layout) Check(w, h int) error {
	switch {
	case l.Block < 2 || l.Block%2 != 0 || l.X%2 != 0 || l.Y%2 != 0 || l.X < 0 || l.Y < 0 || l.Cols < 1:
		return fmt.Errorf("g2g: barcode layout %+v: want even, positive block and corner", l)
	case l.X+l.Cols*l.Block > w || l.Y+l.Rows()*l.Block > h:
		return fmt.Errorf("g2g: barcode %dx%d px at (%d,%d) does not fit %dx%d", l.Cols*l.Block, l.Rows()*l.Block, l.X, l.Y, w, h)
	}
	return nil
}

// Stamp is what one frame's barcode says.
type Stamp struct {
	// CaptureMs is the capture instant, ms since the Unix epoch (48 bits).
	CaptureMs int64
	// Seq is the frame's number, modulo 2^16.
	Seq uint16
}

// Marshal returns the payload's 10 bytes.
func (s Stamp) Marshal() [PayloadBits / 8]byte {
	var b [PayloadBits / 8]byte
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(s.CaptureMs)&(1<<48-1))
	copy(b[0:6], t[2:])
	binary.BigEndian.PutUint16(b[6:8], s.Seq)
	binary.BigEndian.PutUint16(b[8:10], crc16(b[:8]))
	return b
}

// Unmarshal parses a payload, checking its CRC.
func (s *Stamp) Unmarshal(b []byte) error {
	if len(b) != PayloadBits/8 {
		return fmt.Errorf("%w: %d bytes", ErrNoCode, len(b))
	}
	if crc16(b[:8]) != binary.BigEndian.Uint16(b[8:10]) {
		return fmt.Errorf("%w: CRC mismatch", ErrNoCode)
	}
	var t [8]byte
	copy(t[2:], b[0:6])
	s.CaptureMs = int64(binary.BigEndian.Uint64(t[:]))
	s.Seq = binary.BigEndian.Uint16(b[6:8])
	return nil
}

// crc16 is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no
// reflection, no final XOR); check value 0x29B1 for "123456789".
func crc16(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, x := range b {
		c ^= uint16(x) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
	}
	return c
}

// Draw draws s's barcode into a yuv420p picture of w x h (planes y, then
// u and v of (w/2) x (h/2)).
func (l Layout) Draw(y, u, v []byte, w int, s Stamp) {
	p := s.Marshal()
	for i := range PayloadBits {
		bit := p[i/8]>>(7-i%8)&1 == 1
		lum := byte(lumaBlack)
		if bit {
			lum = lumaWhite
		}
		bx := l.X + (i%l.Cols)*l.Block
		by := l.Y + (i/l.Cols)*l.Block
		for r := range l.Block {
			row := y[(by+r)*w+bx:]
			for c := range l.Block {
				row[c] = lum
			}
		}
		cw := w / 2
		for r := range l.Block / 2 {
			off := (by/2+r)*cw + bx/2
			for c := range l.Block / 2 {
				u[off+c] = 128
				v[off+c] = 128
			}
		}
	}
}

// Read decodes the barcode from a luma plane of width w (stride w).
func (l Layout) Read(y []byte, w int) (Stamp, error) {
	var p [PayloadBits / 8]byte
	q := l.Block / 4 // the middle half of each block
	for i := range PayloadBits {
		bx := l.X + (i%l.Cols)*l.Block
		by := l.Y + (i/l.Cols)*l.Block
		sum, n := 0, 0
		for r := by + q; r < by+l.Block-q; r++ {
			for c := bx + q; c < bx+l.Block-q; c++ {
				sum += int(y[r*w+c])
				n++
			}
		}
		if sum > n*(lumaBlack+lumaWhite)/2 {
			p[i/8] |= 1 << (7 - i%8)
		}
	}
	var s Stamp
	err := s.Unmarshal(p[:])
	return s, err
}
