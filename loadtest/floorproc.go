package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// runFloorProcess is what the floor modes share: it checks the audience
// sizes, starts the bare process (command), reads the address it prints
// ("listening ADDR"), and measures each size in turn with point, given
// the process's pid and address. The process is killed on return. what
// names the process in errors.
func runFloorProcess[P any](ctx context.Context, what string, command []string, viewers []int,
	point func(pid int, addr string, n int) (P, error)) ([]P, error) {
	if len(command) == 0 || len(viewers) == 0 {
		return nil, fmt.Errorf("%w: the %s needs a command and viewer counts", ErrConfig, what)
	}
	for _, n := range viewers {
		if n < 1 || n > MaxViewers {
			return nil, fmt.Errorf("%w: viewers %d: want 1 to %d", ErrConfig, n, MaxViewers)
		}
	}
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadtest: %s: %w", what, err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		return nil, fmt.Errorf("loadtest: %s did not start: %q %v", what, line, err)
	}
	var points []P
	for _, n := range viewers {
		p, err := point(cmd.Process.Pid, addr, n)
		if err != nil {
			return points, err
		}
		points = append(points, p)
	}
	return points, nil
}

// floorWindow is a floor's measured window: its length and the floor
// process's CPU in seconds, and the CPU of the floor process, of this
// process (the clients) and of everything else, in % of a core.
type floorWindow struct {
	wall, cpu                     float64
	floorPct, clientPct, otherPct float64
}

// measureFloorWindow waits out warmup, calls reset (the clients' figures
// start over), and samples the processes' CPU across duration.
func measureFloorWindow(ctx context.Context, cfg *Config, warmup, duration time.Duration, reset func()) (floorWindow, error) {
	var w floorWindow
	if err := sleep(ctx, warmup); err != nil {
		return w, err
	}
	reset()
	s0, err := takeSample(cfg, nil)
	if err != nil {
		return w, err
	}
	if err := sleep(ctx, duration); err != nil {
		return w, err
	}
	s1, err := takeSample(cfg, nil)
	if err != nil {
		return w, err
	}
	w.wall = s1.wall.Sub(s0.wall).Seconds()
	w.cpu = (s1.serverCPU - s0.serverCPU).Seconds()
	w.floorPct = 100 * w.cpu / w.wall
	w.clientPct = 100 * (s1.selfCPU - s0.selfCPU).Seconds() / w.wall
	w.otherPct = max(0, 100*(s1.sysBusy-s0.sysBusy).Seconds()/w.wall-w.floorPct-w.clientPct)
	return w, nil
}
