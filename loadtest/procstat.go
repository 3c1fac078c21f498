package loadtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// ClockTick is USER_HZ, the unit of the times in /proc/PID/stat. Linux fixes
// it at 100 on every architecture Go supports, whatever the kernel's HZ, so
// no sysconf(_SC_CLK_TCK) is needed.
const ClockTick = 100

// ErrStat reports a /proc/PID/stat or status line that does not parse.
var ErrStat = errors.New("loadtest: malformed /proc stat")

// ProcStat is what the tool reads from /proc/PID/stat (proc(5)).
type ProcStat struct {
	PID   int
	Comm  string
	State byte
	// UTime and STime are the user and system CPU time in clock ticks.
	UTime, STime uint64
	// RSSPages is the resident set size in pages.
	RSSPages int64
}

// CPU returns the process's user plus system CPU time.
func (s ProcStat) CPU() time.Duration {
	return time.Duration(s.UTime+s.STime) * time.Second / ClockTick
}

// ParseStat parses the contents of /proc/PID/stat:
//
//	pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt
//	majflt cmajflt utime stime cutime cstime priority nice num_threads
//	itrealvalue starttime vsize rss ...
//
// comm may hold spaces and parentheses (it is whatever the process named
// itself, up to 15 bytes), so it runs from the first '(' to the last ')'.
func ParseStat(b []byte) (ProcStat, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return ProcStat{}, fmt.Errorf("%w: no (comm)", ErrStat)
	}
	var s ProcStat
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return ProcStat{}, fmt.Errorf("%w: pid: %w", ErrStat, err)
	}
	s.PID = pid
	s.Comm = string(b[open+1 : end])
	// Fields after comm, numbered from 3 (state) as proc(5) numbers them.
	f := bytes.Fields(b[end+1:])
	const (
		fState = 3
		fUTime = 14
		fSTime = 15
		fRSS   = 24
	)
	at := func(n int) []byte { return f[n-fState] }
	if len(f) < fRSS-fState+1 {
		return ProcStat{}, fmt.Errorf("%w: %d fields after comm", ErrStat, len(f))
	}
	if len(at(fState)) != 1 {
		return ProcStat{}, fmt.Errorf("%w: state %q", ErrStat, at(fState))
	}
	s.State = at(fState)[0]
	if s.UTime, err = strconv.ParseUint(string(at(fUTime)), 10, 64); err != nil {
		return ProcStat{}, fmt.Errorf("%w: utime: %w", ErrStat, err)
	}
	if s.STime, err = strconv.ParseUint(string(at(fSTime)), 10, 64); err != nil {
		return ProcStat{}, fmt.Errorf("%w: stime: %w", ErrStat, err)
	}
	if s.RSSPages, err = strconv.ParseInt(string(at(fRSS)), 10, 64); err != nil {
		return ProcStat{}, fmt.Errorf("%w: rss: %w", ErrStat, err)
	}
	return s, nil
}

// ParseVmRSS returns the VmRSS line of /proc/PID/status in bytes.
func ParseVmRSS(b []byte) (int64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("%w: VmRSS %q", ErrStat, bytes.TrimSpace(rest))
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || kb < 0 {
			return 0, fmt.Errorf("%w: VmRSS %q", ErrStat, f[0])
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("%w: no VmRSS", ErrStat)
}

// Proc reads one process's CPU time and memory from /proc.
type Proc struct{ PID int }

// Stat reads /proc/PID/stat.
func (p Proc) Stat() (ProcStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/stat")
	if err != nil {
		return ProcStat{}, err
	}
	return ParseStat(b)
}

// RSS reads VmRSS from /proc/PID/status, in bytes.
func (p Proc) RSS() (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/status")
	if err != nil {
		return 0, err
	}
	return ParseVmRSS(b)
}

// ParseSystemBusy returns the CPU time all cores spent busy (every state of
// the "cpu" line of /proc/stat but idle and iowait), in clock ticks.
func ParseSystemBusy(b []byte) (uint64, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 5 || string(f[0]) != "cpu" {
		return 0, fmt.Errorf("%w: no cpu line", ErrStat)
	}
	var busy uint64
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: cpu field %d: %w", ErrStat, i+1, err)
		}
		// Fields 4 and 5 are idle and iowait; guest time is already in
		// user and nice (fields 9 and 10).
		if i != 3 && i != 4 && i < 8 {
			busy += n
		}
	}
	return busy, nil
}

// SystemBusy reads the busy CPU time of the whole machine.
func SystemBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	t, err := ParseSystemBusy(b)
	return time.Duration(t) * time.Second / ClockTick, err
}
