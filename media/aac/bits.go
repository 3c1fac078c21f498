package aac

import "fmt"

// bitReader reads big-endian bit fields, most significant bit first.
type bitReader struct {
	b   []byte
	pos int // in bits
}

func (r *bitReader) left() int { return len(r.b)*8 - r.pos }

// u reads n <= 32 bits.
func (r *bitReader) u(n int) (uint32, error) {
	if n > r.left() {
		return 0, fmt.Errorf("%w: need %d bits, %d left", ErrTruncated, n, r.left())
	}
	var v uint32
	for i := 0; i < n; i++ {
		v = v<<1 | uint32(r.b[r.pos>>3]>>(7-uint(r.pos&7))&1)
		r.pos++
	}
	return v, nil
}

func (r *bitReader) flag() (bool, error) {
	v, err := r.u(1)
	return v == 1, err
}

// objectType reads GetAudioObjectType() (1.6.2.1).
func (r *bitReader) objectType() (int, error) {
	v, err := r.u(5)
	if err != nil {
		return 0, err
	}
	if v == 31 { // audioObjectTypeExt
		ext, err := r.u(6)
		if err != nil {
			return 0, err
		}
		v = 32 + ext
	}
	return int(v), nil
}

// sampleRate reads samplingFrequencyIndex and, for index 15,
// samplingFrequency (1.6.2.1, Table 1.18).
func (r *bitReader) sampleRate() (int, error) {
	i, err := r.u(4)
	if err != nil {
		return 0, err
	}
	if i == 0xf {
		v, err := r.u(24)
		if err != nil {
			return 0, err
		}
		if v == 0 {
			return 0, fmt.Errorf("%w: sampling frequency 0", ErrInvalid)
		}
		return int(v), nil
	}
	if int(i) >= len(sampleRates) {
		return 0, fmt.Errorf("%w: sampling frequency index %d", ErrInvalid, i)
	}
	return sampleRates[i], nil
}

// bitWriter writes what bitReader reads; the last byte is zero-padded.
type bitWriter struct {
	b []byte
	n int // bits written
}

func (w *bitWriter) u(n int, v uint32) {
	for i := n - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>uint(i)&1) << (7 - uint(w.n%8))
		w.n++
	}
}

func (w *bitWriter) flag(f bool) {
	if f {
		w.u(1, 1)
	} else {
		w.u(1, 0)
	}
}

func (w *bitWriter) objectType(aot int) {
	if aot >= 31 {
		w.u(5, 31)
		w.u(6, uint32(aot-32))
		return
	}
	w.u(5, uint32(aot))
}

func (w *bitWriter) sampleRate(rate int) {
	if i, ok := sampleRateIndex(rate); ok {
		w.u(4, uint32(i))
		return
	}
	w.u(4, 0xf)
	w.u(24, uint32(rate))
}
