package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ServerProcess is a liveloop server the load tool started for itself, on
// free loopback ports with a data directory of its own.
//
// Life cycle: StartServer starts it and waits until /readyz answers; Stop
// ends it (SIGTERM, then SIGKILL after a few seconds), waits for it and
// removes its directory. The server is also killed if the load tool dies
// (parent-death signal).
type ServerProcess struct {
	HTTPAddr string
	RTMPAddr string
	PID      int

	cmd    *exec.Cmd
	dir    string
	log    *os.File
	exited chan struct{}
	err    error // cmd.Wait's result, set before exited closes
}

// DefaultServerBin returns the liveloop binary next to the running
// executable if there is one, or else the one in PATH.
func DefaultServerBin() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "liveloop")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath("liveloop")
	if err != nil {
		return "", fmt.Errorf("loadtest: no liveloop binary next to this one or in PATH (use --server-bin): %w", err)
	}
	return p, nil
}

// freePort returns a loopback host:port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// StartServer starts bin serve on free loopback ports, with extra flags
// after the tool's own, and waits until it is ready or timeout passes.
func StartServer(ctx context.Context, bin string, timeout time.Duration, extra ...string) (*ServerProcess, error) {
	dir, err := os.MkdirTemp("", "liveloop-load-")
	if err != nil {
		return nil, err
	}
	s := &ServerProcess{dir: dir, exited: make(chan struct{})}
	fail := func(err error) (*ServerProcess, error) {
		if s.cmd != nil {
			s.Stop()
		} else {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	if s.HTTPAddr, err = freePort(); err != nil {
		return fail(err)
	}
	if s.RTMPAddr, err = freePort(); err != nil {
		return fail(err)
	}
	if s.log, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		return fail(err)
	}
	args := append([]string{"serve",
		"--http", s.HTTPAddr, "--rtmp", s.RTMPAddr, "--webrtc-udp", "127.0.0.1:0",
		"--data-dir", filepath.Join(dir, "data"), "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.log.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("loadtest: start server: %w", err)
	}
	s.cmd = cmd
	s.PID = cmd.Process.Pid
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, timeout); err != nil {
		tail := s.logTail()
		return fail(fmt.Errorf("%w\nserver log:\n%s", err, tail))
	}
	return s, nil
}

func (s *ServerProcess) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	url := "http://" + s.HTTPAddr + "/readyz"
	for {
		if httpOK(ctx, url) {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("loadtest: server exited before it was ready: %v", s.err)
		case <-ctx.Done():
			return fmt.Errorf("loadtest: server not ready at %s: %w", url, ctx.Err())
		case <-tick.C:
		}
	}
}

func httpOK(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (s *ServerProcess) logTail() string {
	b, _ := os.ReadFile(s.log.Name())
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// Exited is closed when the server process has ended.
func (s *ServerProcess) Exited() <-chan struct{} { return s.exited }

// Stop ends the server and removes its directory. It returns the server's
// log if the server did not stop cleanly.
func (s *ServerProcess) Stop() error {
	var err error
	select {
	case <-s.exited:
		err = fmt.Errorf("loadtest: server had exited: %v", s.err)
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
			if s.err != nil {
				err = fmt.Errorf("loadtest: server stopped with %v", s.err)
			}
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
			err = errors.New("loadtest: server did not stop within 10 s; killed")
		}
	}
	if err != nil {
		err = fmt.Errorf("%w\nserver log:\n%s", err, s.logTail())
	}
	s.log.Close()
	os.RemoveAll(s.dir)
	return err
}

// Metrics is what the load tool reads from the server's /metrics.
type Metrics struct {
	HeapInuse  float64 // go_memstats_heap_inuse_bytes
	StackInuse float64 // go_memstats_stack_inuse_bytes
	Skips      float64 // liveloop_subscriber_skips_total
	WSViewers  float64 // liveloop_ws_viewers
	Goroutines float64 // go_goroutines
	HLSBlocked float64 // liveloop_hls_blocked_requests
	HLSBytes   float64 // liveloop_hls_bytes_sent_total
}

// ScrapeMetrics reads the server's Prometheus text exposition.
func ScrapeMetrics(ctx context.Context, httpAddr string) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	if err != nil {
		return Metrics{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Metrics{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Metrics{}, fmt.Errorf("loadtest: /metrics: %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return Metrics{}, err
	}
	return ParseMetrics(b), nil
}

// ParseMetrics picks the gauges the tool uses out of a Prometheus text
// exposition; missing ones stay zero.
func ParseMetrics(b []byte) Metrics {
	var m Metrics
	want := map[string]*float64{
		"go_memstats_heap_inuse_bytes":    &m.HeapInuse,
		"go_memstats_stack_inuse_bytes":   &m.StackInuse,
		"liveloop_subscriber_skips_total": &m.Skips,
		"liveloop_ws_viewers":             &m.WSViewers,
		"go_goroutines":                   &m.Goroutines,
		"liveloop_hls_blocked_requests":   &m.HLSBlocked,
		"liveloop_hls_bytes_sent_total":   &m.HLSBytes,
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if p := want[name]; ok && p != nil {
			if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
				*p = f
			}
		}
	}
	return m
}
