// Package serverproc starts a `liveloop serve` process for the project's
// tools (the load tool, the glass-to-glass tool): on free loopback ports,
// with a data directory of its own, ready when Start returns, and gone,
// directory and all, after Stop.
package serverproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Process is a liveloop server a tool started for itself, on free
// loopback ports with a data directory of its own.
//
// Life cycle: Start starts it and waits until /readyz answers; Stop ends it
// (SIGTERM, then SIGKILL after a few seconds), waits for it and removes its
// directory. The server is also killed if the tool dies (parent-death
// signal).
type Process struct {
	HTTPAddr string
	RTMPAddr string
	PID      int

	cmd    *exec.Cmd
	dir    string
	log    *os.File
	exited chan struct{}
	err    error // cmd.Wait's result, set before exited closes
}

// DefaultBin returns the liveloop binary next to the running
// executable if there is one, or else the one in PATH.
func DefaultBin() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "liveloop")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath("liveloop")
	if err != nil {
		return "", fmt.Errorf("serverproc: no liveloop binary next to this one or in PATH (use --server-bin): %w", err)
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

// Start starts bin serve on free loopback ports, with extra flags
// after the tool's own, and waits until it is ready or timeout passes.
func Start(ctx context.Context, bin string, timeout time.Duration, extra ...string) (*Process, error) {
	dir, err := os.MkdirTemp("", "liveloop-server-")
	if err != nil {
		return nil, err
	}
	s := &Process{dir: dir, exited: make(chan struct{})}
	fail := func(err error) (*Process, error) {
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
	cmd.SysProcAttr = DieWithParent()
	if err := cmd.Start(); err != nil {
		s.log.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("serverproc: start server: %w", err)
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

func (s *Process) waitReady(ctx context.Context, timeout time.Duration) error {
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
			return fmt.Errorf("serverproc: server exited before it was ready: %v", s.err)
		case <-ctx.Done():
			return fmt.Errorf("serverproc: server not ready at %s: %w", url, ctx.Err())
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

func (s *Process) logTail() string {
	b, _ := os.ReadFile(s.log.Name())
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// Exited is closed when the server process has ended.
func (s *Process) Exited() <-chan struct{} { return s.exited }

// Stop ends the server and removes its directory. It returns the server's
// log if the server did not stop cleanly.
func (s *Process) Stop() error {
	var err error
	select {
	case <-s.exited:
		err = fmt.Errorf("serverproc: server had exited: %v", s.err)
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
			if s.err != nil {
				err = fmt.Errorf("serverproc: server stopped with %v", s.err)
			}
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
			err = errors.New("serverproc: server did not stop within 10 s; killed")
		}
	}
	if err != nil {
		err = fmt.Errorf("%w\nserver log:\n%s", err, s.logTail())
	}
	s.log.Close()
	os.RemoveAll(s.dir)
	return err
}
