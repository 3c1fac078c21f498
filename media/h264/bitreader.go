package h264

import "fmt"

// bitReader reads the descriptors of ITU-T H.264 7.2 from an RBSP (a NAL
// unit payload with emulation prevention removed), most significant bit
// first.
type bitReader struct {
	b   []byte
	pos int // in bits
}

func (r *bitReader) left() int { return len(r.b)*8 - r.pos }

// u reads n <= 32 bits as an unsigned integer: u(n).
func (r *bitReader) u(n int) (uint32, error) {
	if n > r.left() {
		return 0, fmt.Errorf("%w: need %d bits, %d left", ErrTruncated, n, r.left())
	}
	var v uint32
	for i := 0; i < n; i++ {
		bit := r.b[r.pos>>3] >> (7 - uint(r.pos&7)) & 1
		v = v<<1 | uint32(bit)
		r.pos++
	}
	return v, nil
}

// flag reads u(1) as a bool.
func (r *bitReader) flag() (bool, error) {
	v, err := r.u(1)
	return v == 1, err
}

// ue reads an unsigned Exp-Golomb code: ue(v), 9.1.
func (r *bitReader) ue() (uint32, error) {
	zeros := 0
	for {
		bit, err := r.u(1)
		if err != nil {
			return 0, err
		}
		if bit == 1 {
			break
		}
		zeros++
		// 2^32 - 2 is the largest value ue(v) codes (9.1); it takes 31
		// leading zeros.
		if zeros > 31 {
			return 0, fmt.Errorf("%w: Exp-Golomb code longer than 32 bits", ErrInvalid)
		}
	}
	rest, err := r.u(zeros)
	if err != nil {
		return 0, err
	}
	return uint32(uint64(1)<<zeros - 1 + uint64(rest)), nil
}

// se reads a signed Exp-Golomb code: se(v), 9.1.1.
func (r *bitReader) se() (int32, error) {
	k, err := r.ue()
	if err != nil {
		return 0, err
	}
	// Table 9-3: 1, -1, 2, -2, ...
	if k&1 == 1 {
		return int32((uint64(k) + 1) / 2), nil
	}
	return -int32(k / 2), nil
}

// ueMax reads ue(v) and checks it against the largest value the
// specification allows for the named syntax element.
func (r *bitReader) ueMax(name string, max uint32) (uint32, error) {
	v, err := r.ue()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	if v > max {
		return 0, fmt.Errorf("%w: %s %d > %d", ErrInvalid, name, v, max)
	}
	return v, nil
}
