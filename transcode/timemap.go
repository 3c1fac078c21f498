package transcode

import "time"

// timeMap maps a position in the encoder's output back to the source
// timeline. The encoder sees a plain concatenation of the AAC frames fed to
// it (ADTS carries no timestamps), so each frame fed is recorded with the
// range of input samples it occupies, its PTS on the source's timeline and
// its ingest wall clock; an output position (Opus samples at 48 kHz from
// the start of the input, pre-skip removed) is found in that list.
// Gaps in the source are thus handled frame by frame.
type timeMap struct {
	rate    int64 // input sample rate
	fed     int64 // input samples fed
	entries []mapEntry
}

type mapEntry struct {
	start, n int64 // input samples
	pts      int64 // source PTS, input rate ticks
	wall     time.Time
}

// maxEntries bounds the list: far more than the encoder's delay.
const maxEntries = 512

func newTimeMap(rate int) *timeMap { return &timeMap{rate: int64(rate)} }

// add records a frame of n samples fed at source time pts (input rate).
func (m *timeMap) add(pts int64, n int, wall time.Time) {
	if len(m.entries) == maxEntries {
		m.entries = append(m.entries[:0], m.entries[maxEntries/2:]...)
	}
	m.entries = append(m.entries, mapEntry{start: m.fed, n: int64(n), pts: pts, wall: wall})
	m.fed += int64(n)
}

// at returns the source time (48 kHz ticks) and wall clock of output
// position pos (48 kHz samples from the start of the input; negative
// before it). Entries wholly before pos are forgotten. It reports false if
// nothing has been fed.
func (m *timeMap) at(pos int64) (pts48 int64, wall time.Time, ok bool) {
	if len(m.entries) == 0 {
		return 0, time.Time{}, false
	}
	xi := floorDiv(pos*m.rate, 48000) // input sample
	i := 0
	for i+1 < len(m.entries) && m.entries[i+1].start <= xi {
		i++
	}
	m.entries = m.entries[i:]
	e := m.entries[0]
	// Input samples into the frame, as 48 kHz samples.
	off48 := pos - floorDiv(e.start*48000, m.rate)
	pts48 = toTicks(e.pts, m.rate, 48000) + off48
	wall = e.wall.Add(time.Duration(off48) * time.Second / 48000)
	return pts48, wall, true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// toTicks converts a timestamp between clock rates, rounding down.
func toTicks(t, from, to int64) int64 {
	if from == to {
		return t
	}
	return floorDiv(t, from)*to + floorDiv((t-floorDiv(t, from)*from)*to, from)
}
