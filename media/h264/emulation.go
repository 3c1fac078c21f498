package h264

// Emulation prevention, ITU-T H.264 7.4.1: inside a NAL unit, the encoder
// inserts emulation_prevention_three_byte (0x03) after any two zero bytes
// that would otherwise be followed by a byte <= 0x03, so that no start code
// prefix (0x000001) appears in the payload.

// RemoveEmulationPrevention returns the RBSP of a NAL unit payload: b with
// every emulation_prevention_three_byte removed. When there is none, it
// returns b itself; otherwise a new slice.
func RemoveEmulationPrevention(b []byte) []byte {
	first := -1
	for i, zeros := 0, 0; i < len(b); i++ {
		if zeros >= 2 && b[i] == 3 {
			first = i
			break
		}
		if b[i] == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	if first < 0 {
		return b
	}
	out := make([]byte, first, len(b)-1)
	copy(out, b[:first])
	zeros := 0
	for i := first + 1; i < len(b); i++ {
		// After a removed 0x03 the zero count restarts: 0x00 0x00 0x03 0x00
		// 0x00 0x03 holds two escapes.
		if zeros >= 2 && b[i] == 3 {
			zeros = 0
			continue
		}
		if b[i] == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, b[i])
	}
	return out
}

// AddEmulationPrevention returns b, an RBSP, escaped to be the payload of a
// NAL unit: 0x03 is inserted after two zero bytes followed by a byte <= 0x03,
// and appended if b ends with two zero bytes (7.4.1, cabac_zero_word). When
// nothing needs escaping, it returns b itself; otherwise a new slice.
// RemoveEmulationPrevention undoes it exactly.
func AddEmulationPrevention(b []byte) []byte {
	need, zeros := 0, 0
	for i := 0; i < len(b); i++ {
		if zeros == 2 && b[i] <= 3 {
			need++
			zeros = 0
		}
		if b[i] == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	trailing := zeros == 2
	if need == 0 && !trailing {
		return b
	}
	out := make([]byte, 0, len(b)+need+1)
	zeros = 0
	for _, c := range b {
		if zeros == 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	if trailing {
		out = append(out, 3)
	}
	return out
}
