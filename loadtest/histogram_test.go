package loadtest

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 4999, 5000, 1 << 20, 1<<32 - 2, histMaxUS} {
		i := bucketOf(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d (of %d)", v, i, prev, histBuckets)
		}
		prev = i
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("%d in bucket %d [%d, %d]", v, i, lo, hi)
		}
		if v >= 64 && float64(hi-lo+1)/float64(lo) > 1.0/32+1e-9 {
			t.Fatalf("bucket %d [%d, %d] wider than 1/32", i, lo, hi)
		}
	}
	// Every bucket's range starts just after the previous one's.
	_, hi := bucketRange(0)
	for i := 1; i < histBuckets; i++ {
		lo, h := bucketRange(i)
		if lo != hi+1 {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, lo, hi)
		}
		hi = h
	}
	if hi != histMaxUS {
		t.Fatalf("last bucket ends at %d", hi)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	cases := []struct {
		name   string
		values []time.Duration
		q      map[float64]time.Duration
	}{
		{"empty", nil, map[float64]time.Duration{0.5: 0, 0.99: 0}},
		{"one", []time.Duration{3 * time.Millisecond}, map[float64]time.Duration{0: 3 * time.Millisecond, 0.5: 3 * time.Millisecond, 1: 3 * time.Millisecond}},
		{"small exact", []time.Duration{1 * time.Microsecond, 2 * time.Microsecond, 3 * time.Microsecond, 4 * time.Microsecond}, map[float64]time.Duration{0.5: 2 * time.Microsecond, 0.75: 3 * time.Microsecond, 1: 4 * time.Microsecond}},
		{"negative is zero", []time.Duration{-time.Second}, map[float64]time.Duration{0.5: 0}},
		{"clamped", []time.Duration{100 * time.Hour}, map[float64]time.Duration{1: histMaxUS * time.Microsecond}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h Histogram
			for _, v := range c.values {
				h.Record(v)
			}
			for q, want := range c.q {
				if got := h.Quantile(q); got != want {
					t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
				}
			}
		})
	}
}

func TestHistogramAccuracy(t *testing.T) {
	// 1..100000 µs uniformly, recorded into two halves and merged.
	var a, b Histogram
	r := rand.New(rand.NewPCG(1, 2))
	for _, i := range r.Perm(100000) {
		d := time.Duration(i+1) * time.Microsecond
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	if a.Count() != 100000 || a.Min() != time.Microsecond || a.Max() != 100*time.Millisecond {
		t.Fatalf("count %d min %v max %v", a.Count(), a.Min(), a.Max())
	}
	if m := a.Mean(); m < 49*time.Millisecond || m > 51*time.Millisecond {
		t.Fatalf("mean %v", m)
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := q * 100000
		got := float64(a.Quantile(q).Microseconds())
		if math.Abs(got-want)/want > 1.0/32 {
			t.Errorf("Quantile(%v) = %v µs, want %v ± 3%%", q, got, want)
		}
	}
	a.Reset()
	if a.Count() != 0 || a.Quantile(0.5) != 0 {
		t.Fatal("Reset left samples")
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i&0xffff) * time.Microsecond)
	}
}
