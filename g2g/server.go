package g2g

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

// serverProcess is a `liveloop serve` that Run started for itself, on free
// loopback ports with a data directory of its own (removed by stop). The
// server is killed if this process dies (parent-death signal).
type serverProcess struct {
	httpAddr, rtmpAddr string
	pid                int

	cmd    *exec.Cmd
	dir    string
	log    *tailBuffer
	exited chan struct{}
	err    error // cmd.Wait's result, set before exited closes
}

// defaultServerBin returns the liveloop binary next to the running
// executable if there is one, or else the one in PATH.
func defaultServerBin() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "liveloop")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath("liveloop")
	if err != nil {
		return "", fmt.Errorf("g2g: no liveloop binary next to this one or in PATH (use --server-bin): %w", err)
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

// startServer starts bin serve and waits until /readyz answers, for at
// most timeout.
func startServer(ctx context.Context, bin string, timeout time.Duration) (*serverProcess, error) {
	dir, err := os.MkdirTemp("", "liveloop-g2g-")
	if err != nil {
		return nil, err
	}
	s := &serverProcess{dir: dir, log: &tailBuffer{max: 8192}, exited: make(chan struct{})}
	if s.httpAddr, err = freePort(); err == nil {
		s.rtmpAddr, err = freePort()
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--http", s.httpAddr, "--rtmp", s.rtmpAddr,
		"--data-dir", filepath.Join(dir, "data"), "--log-level", "warn")
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("g2g: start server: %w", err)
	}
	s.cmd, s.pid = cmd, cmd.Process.Pid
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, timeout); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, s.log.Bytes())
	}
	return s, nil
}

func (s *serverProcess) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	url := "http://" + s.httpAddr + "/readyz"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("g2g: server exited before it was ready: %v", s.err)
		case <-ctx.Done():
			return fmt.Errorf("g2g: server not ready at %s: %w", url, ctx.Err())
		case <-tick.C:
		}
	}
}

// stop ends the server (SIGTERM, then SIGKILL after 10 s), waits for it and
// removes its directory.
func (s *serverProcess) stop() error {
	var err error
	select {
	case <-s.exited:
		err = fmt.Errorf("g2g: server had exited: %v", s.err)
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
			err = errors.New("g2g: server did not stop within 10 s; killed")
		}
	}
	os.RemoveAll(s.dir)
	return err
}
