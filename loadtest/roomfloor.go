package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// The room floor is what the room mode's fan-out figures are measured
// against: a bare process, with no Liveloop code, that holds N loopback
// TCP connections and every mark interval writes one small WebSocket
// text frame to each of them, the size of the events message that
// carries the host's marker chat message and stamped with the round's
// start, from one goroutine per CPU, each over its share of the
// connections (as the server's fan-out workers write a batch's shared
// frame). The readers are the room mode's own (the epoll pollers and
// message parser of room_linux.go), so the client side is the same as
// against the server; what the floor's fan-out latency and CPU leave to a
// server is its own work: the room, the log, the bookkeeping of a send.
//
// RoomFloorWriter is the writing process; RunRoomFloor starts it as a
// child process, connects the readers and measures it like a server.

// RoomFloorWriterArg is the first argument that makes liveloop-load run
// RoomFloorWriter instead of a load test.
const RoomFloorWriterArg = "room-floor-writer"

// roomFloorFrame returns round seq's frame: an unmasked WebSocket text
// frame whose payload looks like the server's events message for one
// chat message of the host, with the marker stamped sent.
func roomFloorFrame(seq uint64, sent time.Time) []byte {
	s := strconv.FormatUint(seq, 10)
	payload := `{"type":"events","events":[{"seq":` + s + `,"type":"chat.message","data":{"id":"m` + s + `","seq":` + s +
		`,"viewer":"h-load-host-0001","name":"Load host","role":"host","text":"` + markPrefix + strconv.FormatInt(sent.UnixNano(), 10) +
		`","at":"` + sent.UTC().Format(time.RFC3339Nano) + `","mediaTime":` + strconv.FormatUint(seq/2, 10) + `.500}}]}`
	// RFC 6455 5.2: FIN and opcode 1 (text), then a 7-bit length or
	// 126 and a 16-bit one; a server's frames are not masked.
	var frame []byte
	if len(payload) < 126 {
		frame = append(frame, 0x81, byte(len(payload)))
	} else {
		frame = append(frame, 0x81, 126, byte(len(payload)>>8), byte(len(payload)))
	}
	return append(frame, payload...)
}

// roomFloorShare is one writer goroutine's connections.
type roomFloorShare struct {
	mu    sync.Mutex
	conns []roomFloorConn
	round chan []byte // frames to write; bounded
}

// RoomFloorWriter listens on a loopback port, prints "listening HOST:PORT"
// on out, and every interval writes one marker frame to every accepted
// connection until ctx ends. A connection that fails a write is dropped.
func RoomFloorWriter(ctx context.Context, interval time.Duration, out io.Writer) error {
	if interval <= 0 {
		return fmt.Errorf("%w: room floor: mark interval %v", ErrConfig, interval)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	shares := make([]*roomFloorShare, runtime.GOMAXPROCS(0))
	for i := range shares {
		shares[i] = &roomFloorShare{round: make(chan []byte, 4)}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The acceptor deals connections to the shares in turn; it ends when
	// the listener closes.
	wg.Go(func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s := shares[i%len(shares)]
			s.mu.Lock()
			s.conns = append(s.conns, newRoomFloorConn(c))
			s.mu.Unlock()
		}
	})
	context.AfterFunc(ctx, func() { ln.Close() })
	for _, s := range shares {
		wg.Go(func() { s.run(ctx) })
	}
	if _, err := fmt.Fprintf(out, "listening %s\n", ln.Addr()); err != nil {
		return err
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for seq := uint64(1); ; seq++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		frame := roomFloorFrame(seq, time.Now())
		for _, s := range shares {
			select {
			case s.round <- frame:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// run writes each round's frame to the share's connections, one write
// each, until ctx ends; then it closes them.
func (s *roomFloorShare) run(ctx context.Context) {
	defer func() {
		s.mu.Lock()
		for _, c := range s.conns {
			c.nc.Close()
		}
		s.conns = nil
		s.mu.Unlock()
	}()
	for {
		var frame []byte
		select {
		case frame = <-s.round:
		case <-ctx.Done():
			return
		}
		s.mu.Lock()
		live := s.conns[:0]
		for _, c := range s.conns {
			if err := c.write(frame); err != nil {
				c.nc.Close()
				continue
			}
			live = append(live, c)
		}
		clear(s.conns[len(live):])
		s.conns = live
		s.mu.Unlock()
	}
}

// RoomFloorPoint is the room floor at one audience size.
type RoomFloorPoint struct {
	Viewers     int     `json:"viewers"`
	Connected   int     `json:"connected"`
	WallSeconds float64 `json:"wallSeconds"`
	// FloorCPUPercent is the writing process's CPU (% of a core), the
	// figure to hold the room mode's server CPU against.
	FloorCPUPercent  float64 `json:"floorCpuPercent"`
	DeliveryMicros   float64 `json:"deliveryMicros"` // floor CPU per frame delivered
	ClientCPUPercent float64 `json:"clientCpuPercent"`
	OtherCPUPercent  float64 `json:"otherCpuPercent"`
	// Fanout is each frame's round start to its arrival, over every
	// reader: the figure to hold the room mode's fan-out against.
	Fanout     Quantiles `json:"fanoutMs"`
	Deliveries uint64    `json:"deliveries"`
	// DeliveriesPerClientSec should be 1/MarkInterval.
	DeliveriesPerClientSec float64  `json:"deliveriesPerClientSecond"`
	Errors                 []string `json:"errors,omitempty"`
}

// RoomFloorConfig configures RunRoomFloor.
type RoomFloorConfig struct {
	// Command starts the writing process: it must run RoomFloorWriter (for
	// liveloop-load: its own executable with RoomFloorWriterArg and the
	// mark interval).
	Command  []string
	Viewers  []int
	Ramp     float64 // readers connecting per second; 0: as fast as they can
	Warmup   time.Duration
	Duration time.Duration
}

// RunRoomFloor starts the writing process, and for each audience size
// connects that many of the room mode's readers to it, warms up, and
// measures the process's CPU and the frames' fan-out latency over the
// window. It needs the room mode's epoll readers (Linux).
func RunRoomFloor(ctx context.Context, cfg RoomFloorConfig) ([]RoomFloorPoint, error) {
	return runFloorProcess(ctx, "room floor writer", cfg.Command, cfg.Viewers, func(pid int, addr string, n int) (RoomFloorPoint, error) {
		return roomFloorPoint(ctx, cfg, pid, addr, n)
	})
}

func roomFloorPoint(ctx context.Context, fc RoomFloorConfig, pid int, addr string, n int) (RoomFloorPoint, error) {
	p := RoomFloorPoint{Viewers: n}
	cfg := &Config{HTTPAddr: addr, Stream: "floor", Now: time.Now, ServerPID: pid, Logger: slog.New(slog.DiscardHandler)}
	a := newRoomAudience(cfg, n)
	defer a.close()
	if a.pollers == nil {
		return p, errors.New("loadtest: the room floor needs the room mode's epoll readers (Linux)")
	}
	// Each reader leaves its poller and ends its stream when the point
	// is done; the pollers stop (and close the sockets) with a.close.
	defer func() {
		for _, c := range a.clients {
			c.sock.finish()
		}
	}()
	var d net.Dialer
	t0 := time.Now()
	for i := range n {
		if i > 0 && fc.Ramp > 0 {
			if err := sleep(ctx, time.Until(t0.Add(time.Duration(float64(i)/fc.Ramp*float64(time.Second))))); err != nil {
				return p, err
			}
		}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return p, fmt.Errorf("loadtest: room floor reader: %w", err)
		}
		c := &roomClient{a: a, idx: i, member: newMember(), shard: &a.shards[i%roomShards]}
		err = c.attachConn(a.pollers, nc)
		if err != nil {
			return p, fmt.Errorf("loadtest: room floor reader: %w", err)
		}
		a.clients = append(a.clients, c)
	}
	p.Connected = len(a.clients)
	w, err := measureFloorWindow(ctx, cfg, fc.Warmup, fc.Duration, a.reset)
	if err != nil {
		return p, err
	}
	wall, cpu := w.wall, w.cpu
	var pt Point
	a.collect(&pt, wall)
	p.WallSeconds = wall
	p.FloorCPUPercent, p.ClientCPUPercent, p.OtherCPUPercent = w.floorPct, w.clientPct, w.otherPct
	p.Fanout = pt.Room.Fanout
	p.Deliveries = pt.Room.MarkerDeliveries
	p.DeliveriesPerClientSec = float64(p.Deliveries) / wall / float64(n)
	if p.Deliveries > 0 {
		p.DeliveryMicros = 1e6 * cpu / float64(p.Deliveries)
	}
	for _, c := range a.clients {
		select {
		case <-c.sock.ended:
			if len(p.Errors) < 3 {
				p.Errors = append(p.Errors, c.sock.endErr.Error())
			}
		default:
		}
	}
	if p.Deliveries == 0 {
		return p, errors.New("loadtest: room floor readers received no marker")
	}
	return p, nil
}

// WriteRoomFloorTable writes the room floor points as a table.
func WriteRoomFloorTable(w io.Writer, points []RoomFloorPoint) error {
	if _, err := fmt.Fprintf(w, "%8s  %6s  %8s  %10s  %10s  %7s  %11s  %6s  %6s  %6s  %12s\n",
		"clients", "ok", "floor %", "µs/deliv", "tool cpu %", "other %", "fan-out p50", "p90", "p99", "max ms", "deliv/c·s"); err != nil {
		return err
	}
	for _, p := range points {
		if _, err := fmt.Fprintf(w, "%8d  %6d  %8.1f  %10.2f  %10.1f  %7.1f  %11.1f  %6.1f  %6.1f  %6.1f  %12.2f\n",
			p.Viewers, p.Connected, p.FloorCPUPercent, p.DeliveryMicros, p.ClientCPUPercent, p.OtherCPUPercent,
			p.Fanout.P50, p.Fanout.P90, p.Fanout.P99, p.Fanout.Max, p.DeliveriesPerClientSec); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, "room floor: a bare process writing one marker-sized WebSocket frame, stamped, to every connection each mark interval from one goroutine per CPU, read by the room mode's readers; fan-out: round start to arrival at each client.")
	return err
}
