package loadtest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// statLine builds a /proc/PID/stat line as the kernel writes it.
func statLine(pid int, comm string, utime, stime uint64, rss int64) string {
	return fmt.Sprintf("%d (%s) S 1 %d %d 0 -1 4194560 1234 0 5 0 %d %d 0 0 20 0 12 0 4567 1234567680 %d 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0\n",
		pid, comm, pid, pid, utime, stime, rss)
}

var statCases = []struct {
	name string
	in   string
	want ProcStat
	err  bool
}{
	{"plain", statLine(4242, "liveloop", 1500, 250, 9000), ProcStat{PID: 4242, Comm: "liveloop", State: 'S', UTime: 1500, STime: 250, RSSPages: 9000}, false},
	{"spaces", statLine(7, "my server 2", 1, 2, 3), ProcStat{PID: 7, Comm: "my server 2", State: 'S', UTime: 1, STime: 2, RSSPages: 3}, false},
	{"parentheses", statLine(8, "a) (b) S 9 (", 10, 20, 30), ProcStat{PID: 8, Comm: "a) (b) S 9 (", State: 'S', UTime: 10, STime: 20, RSSPages: 30}, false},
	{"empty comm", statLine(9, "", 0, 0, 0), ProcStat{PID: 9, State: 'S'}, false},
	{"no newline", strings.TrimSuffix(statLine(1, "x", 5, 6, 7), "\n"), ProcStat{PID: 1, Comm: "x", State: 'S', UTime: 5, STime: 6, RSSPages: 7}, false},
	{"truncated", "123 (x) S 1 2 3 4 5 6 7 8 9 10 11", ProcStat{}, true},
	{"no comm", "123 x S 1 2", ProcStat{}, true},
	{"bad pid", "abc (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23", ProcStat{}, true},
	{"bad utime", "1 (x) S 1 2 3 4 5 6 7 8 9 10 -5 12 13 14 15 16 17 18 19 20 21 22 23", ProcStat{}, true},
	{"empty", "", ProcStat{}, true},
}

func TestParseStat(t *testing.T) {
	for _, c := range statCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseStat([]byte(c.in))
			if c.err {
				if !errors.Is(err, ErrStat) {
					t.Fatalf("err %v, want ErrStat", err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
	if got := (ProcStat{UTime: 150, STime: 50}).CPU(); got != 2*time.Second {
		t.Fatalf("CPU() = %v, want 2s", got)
	}
}

func TestProcSelf(t *testing.T) {
	p := Proc{PID: os.Getpid()}
	st, err := p.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.PID != os.Getpid() || st.RSSPages <= 0 {
		t.Fatalf("%+v", st)
	}
	rss, err := p.RSS()
	if err != nil || rss <= 0 {
		t.Fatalf("RSS %d, %v", rss, err)
	}
}

func TestParseVmRSS(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"Name:\tx\nVmPeak:\t 100 kB\nVmRSS:\t   2048 kB\nThreads: 3\n", 2048 << 10, false},
		{"VmRSS:\t1 kB", 1024, false},
		{"Name:\tx\n", 0, true},
		{"VmRSS:\t12 MB\n", 0, true},
		{"VmRSS:\t-1 kB\n", 0, true},
	} {
		got, err := ParseVmRSS([]byte(c.in))
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseVmRSS(%q) = %d, %v", c.in, got, err)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	in := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 42
go_memstats_heap_inuse_bytes 1.2345e+07
go_memstats_stack_inuse_bytes 655360
liveloop_subscriber_skips_total 3
liveloop_ws_viewers 500
go_gc_duration_seconds{quantile="0"} 1e-05
`
	got := ParseMetrics([]byte(in))
	want := Metrics{HeapInuse: 12345000, StackInuse: 655360, Skips: 3, WSViewers: 500, Goroutines: 42}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// FuzzParseStat feeds arbitrary bytes (never a panic; a result has the
// comm between the first '(' and the last ')') and checks that any comm
// round-trips through a well-formed line.
func FuzzParseStat(f *testing.F) {
	for _, c := range statCases {
		f.Add([]byte(c.in), "x", uint64(1), uint64(2))
	}
	f.Add([]byte(")("), "a) b (c", uint64(0), uint64(1<<63))
	f.Fuzz(func(t *testing.T, b []byte, comm string, utime, stime uint64) {
		if st, err := ParseStat(b); err == nil {
			if !strings.Contains(string(b), "("+st.Comm+")") {
				t.Fatalf("comm %q not in input", st.Comm)
			}
		}
		if strings.ContainsAny(comm, "\x00") {
			return
		}
		line := statLine(123, comm, utime, stime, 77)
		st, err := ParseStat([]byte(line))
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		want := ProcStat{PID: 123, Comm: comm, State: 'S', UTime: utime, STime: stime, RSSPages: 77}
		if st != want {
			t.Fatalf("%q: got %+v, want %+v", line, st, want)
		}
	})
}

func TestParseSystemBusy(t *testing.T) {
	got, err := ParseSystemBusy([]byte("cpu  100 5 50 9000 20 1 2 3 7 0\ncpu0 1 2 3 4 5 6 7 8\n"))
	if err != nil || got != 100+5+50+1+2+3 {
		t.Fatalf("got %d, %v", got, err)
	}
	if _, err := ParseSystemBusy([]byte("intr 1 2 3\n")); !errors.Is(err, ErrStat) {
		t.Fatalf("err %v", err)
	}
	if _, err := SystemBusy(); err != nil {
		t.Fatal(err)
	}
}
