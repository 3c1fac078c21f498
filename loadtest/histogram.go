package loadtest

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations in microseconds in log-linear buckets: exact
// below 64 µs, then 32 buckets per power of two (at most 1/32, about 3%,
// relative error). It is a fixed-size value with no allocation per sample;
// values beyond about 71 minutes are clamped. It is not safe for concurrent
// use: each viewer owns one, and the results are merged.
type Histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      uint64 // µs
	min, max uint64 // µs, exact
}

const (
	histSubBits = 6 // 64 values exact, then 2^(histSubBits-1) per octave
	histMaxUS   = 1<<32 - 1
	histBuckets = (32-histSubBits+1)<<(histSubBits-1) + 1<<(histSubBits-1)
)

func bucketOf(v uint64) int {
	if v < 1<<histSubBits {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits
	return shift<<(histSubBits-1) + int(v>>shift)
}

// bucketRange returns the smallest and largest values of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 1<<histSubBits {
		return uint64(i), uint64(i)
	}
	shift := i>>(histSubBits-1) - 1
	m := uint64(i - shift<<(histSubBits-1))
	lo = m << shift
	return lo, lo + 1<<shift - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = min(uint64(d/time.Microsecond), histMaxUS)
	}
	h.counts[bucketOf(us)]++
	if h.n == 0 || us < h.min {
		h.min = us
	}
	h.max = max(h.max, us)
	h.n++
	h.sum += us
}

// Count returns the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest duration recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) * time.Microsecond }

// Min returns the smallest duration recorded.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) * time.Microsecond }

// Mean returns the mean duration.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum/h.n) * time.Microsecond
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Reset forgets every sample.
func (h *Histogram) Reset() { *h = Histogram{} }

// Quantile returns the q-quantile (0 <= q <= 1) by the nearest-rank method:
// the midpoint of the bucket holding the ceil(q*n)-th smallest sample,
// kept within the exact minimum and maximum. It returns 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := min(max(lo+(hi-lo)/2, h.min), h.max)
			return time.Duration(v) * time.Microsecond
		}
	}
	return h.Max()
}
