// Command liveloop-load measures a Liveloop server with one RTMP publisher
// and N viewers, WebSocket (--mode ws, the default), LL-HLS (--mode hls) or
// WebRTC (--mode whep, pion peers that receive H.264 and Opus): server CPU
// per viewer-second, memory per viewer, frame delivery latency, startup
// time and loss, for LL-HLS requests per second, and for WHEP the time from
// DTLS connected to the first keyframe and the RTP figures. The WHEP mode
// needs the server's transcoder (its default) for Opus. --mode room
// runs N viewer-channel clients of the stream's room instead, voting,
// chatting and reacting at given rates while a host runs a poll: event
// fan-out latency, votes accepted per second, chat deliveries per second.
// --mode floor starts no server: a bare process makes the writes the
// WebSocket path needs (one per viewer per video frame, with the same
// clip's sizes and timing), and its CPU is the floor the ws figures stand
// on, on this machine's loopback. --mode hls-floor is the same for LL-HLS:
// a bare process answers the LL-HLS viewers' requests (per viewer and part,
// a blocking playlist reload and the hinted part, each held until the part
// is complete and answered with one write) with the clip's parts, and the
// tool's own LL-HLS viewers read them; its CPU is the floor under the hls
// figures. --mode room-floor is the same for the room mode's fan-out: a bare
// process writes one marker-sized WebSocket frame, stamped, to each of N
// connections every mark interval, read by the room mode's own readers.
// By default it starts the server itself (--server-bin) on free loopback
// ports, with a fresh admin key; with --http, --rtmp and --server-pid it
// measures a running one (--admin-key for the room mode).
//
//	liveloop-load --viewers 1,100,500 --duration 20s
//	liveloop-load --mode hls --viewers 100,1000,5000
//	liveloop-load --mode whep --viewers 1,50,100,150
//	liveloop-load --mode room --viewers 1000,10000 --vote-rate 20000 --chat-rate 50 --react-rate 200
//	liveloop-load --mode floor --viewers 100,500
//	liveloop-load --mode hls-floor --viewers 500,1000,2000
//	liveloop-load --mode room-floor --viewers 10000 --mark-interval 500ms --ramp 500
//	liveloop-load --http 127.0.0.1:8080 --rtmp 127.0.0.1:1935 --server-pid 1234 --viewers 200
//
// The logic is in package loadtest.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/liveloop/liveloop/demo"
	"github.com/liveloop/liveloop/internal/serverproc"
	"github.com/liveloop/liveloop/loadtest"
)

func main() {
	// The tool shares the machine with the server it measures: collect
	// garbage less often (memory is plentiful; CPU is what is measured).
	debug.SetGCPercent(400)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == loadtest.FloorWriterArg {
		return floorWriter(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == loadtest.HLSFloorServerArg {
		return hlsFloorServer(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == loadtest.RoomFloorWriterArg {
		return roomFloorWriter(ctx, args[1:], stderr)
	}
	fs := flag.NewFlagSet("liveloop-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		serverBin = fs.String("server-bin", "", "liveloop binary to start (default: liveloop next to this binary, or in PATH)")
		httpAddr  = fs.String("http", "", "measure a running server: its HTTP `host:port` (with --rtmp)")
		rtmpAddr  = fs.String("rtmp", "", "measure a running server: its RTMP `host:port` (with --http)")
		serverPID = fs.Int("server-pid", 0, "process ID of the running server, for CPU and memory figures")
		viewers   = fs.String("viewers", "1,100,500", "audience sizes to measure in turn, comma-separated")
		ramp      = fs.Float64("ramp", 100, "viewers connecting per second")
		warmup    = fs.Duration("warmup", 5*time.Second, "wait after every viewer has connected, before measuring")
		duration  = fs.Duration("duration", 20*time.Second, "measured window per audience size")
		settle    = fs.Duration("settle", 30*time.Second, "publish this long before the first memory baseline (fills the hub's ring, about 27 s)")
		connect   = fs.Duration("connect-timeout", 10*time.Second, "bound on each viewer's dial and on the wait for all first keyframes")
		stream    = fs.String("stream", "load", "stream name")
		clipPath  = fs.String("clip", "", "FLV file (H.264) to loop instead of the built-in demo clip")
		bitrate   = fs.String("bitrate", "", "the clip's nominal bitrate, only reported")
		mode      = fs.String("mode", loadtest.ModeWS, "clients: ws (WebSocket viewers), hls (LL-HLS viewers), whep (WebRTC viewers), room (viewer channels), floor (no server: the CPU of bare writes, one per viewer per frame), hls-floor (no server: LL-HLS viewers against a bare process answering their requests), or room-floor (no server: viewer-channel readers of a bare process writing each a marker frame every mark interval)")
		voteRate  = fs.Float64("vote-rate", 0, "room mode: votes per second, all clients together")
		chatRate  = fs.Float64("chat-rate", 0, "room mode: chat messages per second, all clients together")
		reactRate = fs.Float64("react-rate", 0, "room mode: reactions per second, all clients together")
		markEvery = fs.Duration("mark-interval", 500*time.Millisecond, "room mode: the host's timed marker messages are this far apart")
		adminKey  = fs.String("admin-key", "", "room mode with a running server: its --admin-key (else env LIVELOOP_ADMIN_KEY)")
		jsonOut   = fs.Bool("json", false, "write the report as JSON on stdout (the table goes to stderr)")
		verbose   = fs.Bool("v", false, "log progress")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "liveloop-load: unexpected arguments %q\n", fs.Args())
		return 2
	}
	counts, err := parseCounts(*viewers)
	if err != nil {
		fmt.Fprintf(stderr, "liveloop-load: --viewers: %v\n", err)
		return 2
	}
	if (*httpAddr == "") != (*rtmpAddr == "") && *mode != loadtest.ModeRoom {
		fmt.Fprintln(stderr, "liveloop-load: --http and --rtmp go together")
		return 2
	}
	if *adminKey == "" {
		*adminKey = os.Getenv("LIVELOOP_ADMIN_KEY")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if n, err := loadtest.RaiseFileLimit(); err != nil {
		log.Warn("cannot raise the open file limit", "err", err)
	} else if slices.Max(counts) > int(n)-64 {
		log.Warn("open file limit may be too low", "limit", n)
	}

	cfg := loadtest.Config{
		HTTPAddr: *httpAddr, RTMPAddr: *rtmpAddr, ServerPID: *serverPID,
		Stream: *stream, Viewers: counts, Ramp: *ramp,
		Settle: *settle, Warmup: *warmup, Duration: *duration, ConnectTimeout: *connect,
		Bitrate: *bitrate, Logger: log,
		Mode: *mode, VoteRate: *voteRate, ChatRate: *chatRate, ReactRate: *reactRate,
		MarkInterval: *markEvery, AdminKey: *adminKey,
	}
	if *clipPath != "" {
		b, err := os.ReadFile(*clipPath)
		if err != nil {
			fmt.Fprintf(stderr, "liveloop-load: %v\n", err)
			return 1
		}
		if cfg.Clip, err = demo.Parse(b); err != nil {
			fmt.Fprintf(stderr, "liveloop-load: %s: %v\n", *clipPath, err)
			return 1
		}
	}
	if *mode == modeFloor {
		return floor(ctx, *clipPath, counts, *warmup, *duration, stdout, stderr)
	}
	if *mode == modeHLSFloor {
		return hlsFloor(ctx, *clipPath, counts, *ramp, *warmup, *duration, *connect, *jsonOut, stdout, stderr)
	}
	if *mode == modeRoomFloor {
		return roomFloor(ctx, counts, *ramp, *markEvery, *warmup, *duration, *jsonOut, stdout, stderr)
	}
	// The whole run is bounded: phases plus generous slack.
	bound := *settle + time.Minute
	for _, n := range counts {
		bound += time.Duration(float64(n) / max(*ramp, 1) * float64(time.Second))
		bound += *connect + *warmup + *duration + 30*time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()

	if *httpAddr == "" {
		if *rtmpAddr != "" {
			fmt.Fprintln(stderr, "liveloop-load: --rtmp needs --http")
			return 2
		}
		bin := *serverBin
		if bin == "" {
			if bin, err = serverproc.DefaultBin(); err != nil {
				fmt.Fprintf(stderr, "liveloop-load: %v\n", err)
				return 1
			}
		}
		// A fresh admin key for the host's token (room mode).
		var key [16]byte
		_, _ = rand.Read(key[:])
		cfg.AdminKey = hex.EncodeToString(key[:])
		srv, err := serverproc.Start(ctx, bin, 15*time.Second, "--admin-key", cfg.AdminKey)
		if err != nil {
			fmt.Fprintf(stderr, "liveloop-load: %v\n", err)
			return 1
		}
		defer func() {
			if err := srv.Stop(); err != nil {
				log.Warn("server stop", "err", err)
			}
		}()
		log.Info("server started", "bin", bin, "pid", srv.PID, "http", srv.HTTPAddr, "rtmp", srv.RTMPAddr)
		cfg.HTTPAddr, cfg.RTMPAddr, cfg.ServerPID = srv.HTTPAddr, srv.RTMPAddr, srv.PID
		// A server that dies ends the run; the watcher ends with wctx.
		wctx, stopWatch := context.WithCancel(ctx)
		watched := make(chan struct{})
		defer func() { stopWatch(); <-watched }()
		ctx = wctx
		go func() {
			defer close(watched)
			select {
			case <-srv.Exited():
				log.Error("server exited during the run")
				stopWatch()
			case <-wctx.Done():
			}
		}()
	}

	rep, err := loadtest.Run(ctx, cfg)
	if rep != nil && len(rep.Points) > 0 {
		if *jsonOut {
			rep.WriteTable(stderr)
			rep.WriteJSON(stdout)
		} else {
			rep.WriteTable(stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "liveloop-load: %v\n", err)
		return 1
	}
	return 0
}

// modeFloor runs no server: it measures what the kernel charges for the
// writes alone (see loadtest.RunFloor).
const modeFloor = "floor"

func floor(ctx context.Context, clip string, counts []int, warmup, duration time.Duration, stdout, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "liveloop-load: %v\n", err)
		return 1
	}
	command := []string{exe, loadtest.FloorWriterArg}
	if clip != "" {
		command = append(command, "--clip", clip)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(counts))*(warmup+duration+time.Minute))
	defer cancel()
	points, err := loadtest.RunFloor(ctx, loadtest.FloorConfig{Command: command, Viewers: counts, Warmup: warmup, Duration: duration})
	if len(points) > 0 {
		loadtest.WriteFloorTable(stdout, points)
	}
	if err != nil {
		fmt.Fprintf(stderr, "liveloop-load: %v\n", err)
		return 1
	}
	return 0
}

// floorWriter is the writing process of the floor mode.
func floorWriter(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(loadtest.FloorWriterArg, flag.ContinueOnError)
	fs.SetOutput(stderr)
	clipPath := fs.String("clip", "", "FLV file to send instead of the built-in demo clip")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	clip, err := readClip(*clipPath)
	if err == nil {
		err = loadtest.FloorWriter(ctx, clip, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "liveloop-load: floor writer: %v\n", err)
		return 1
	}
	return 0
}

// modeHLSFloor runs no server: LL-HLS viewers against a bare process (see
// loadtest.RunHLSFloor).
const modeHLSFloor = "hls-floor"

func hlsFloor(ctx context.Context, clip string, counts []int, ramp float64, warmup, duration, connect time.Duration, jsonOut bool, stdout, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "liveloop-load: %v\n", err)
		return 1
	}
	command := []string{exe, loadtest.HLSFloorServerArg}
	if clip != "" {
		command = append(command, "--clip", clip)
	}
	bound := time.Minute
	for _, n := range counts {
		bound += time.Duration(float64(n)/max(ramp, 1)*float64(time.Second)) + connect + warmup + duration + 30*time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	points, err := loadtest.RunHLSFloor(ctx, loadtest.HLSFloorConfig{
		Command: command, Viewers: counts, Ramp: ramp, Warmup: warmup, Duration: duration, ConnectTimeout: connect,
	})
	if len(points) > 0 {
		if jsonOut {
			loadtest.WriteHLSFloorTable(stderr, points)
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(points)
		} else {
			loadtest.WriteHLSFloorTable(stdout, points)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "liveloop-load: %v\n", err)
		return 1
	}
	return 0
}

// hlsFloorServer is the serving process of the hls-floor mode.
func hlsFloorServer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(loadtest.HLSFloorServerArg, flag.ContinueOnError)
	fs.SetOutput(stderr)
	clipPath := fs.String("clip", "", "FLV file to serve instead of the built-in demo clip")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	clip, err := readClip(*clipPath)
	if err == nil {
		err = loadtest.HLSFloorServer(ctx, clip, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "liveloop-load: hls floor server: %v\n", err)
		return 1
	}
	return 0
}

// modeRoomFloor runs no server: the room mode's readers against a bare
// process writing them marker frames (see loadtest.RunRoomFloor).
const modeRoomFloor = "room-floor"

func roomFloor(ctx context.Context, counts []int, ramp float64, interval, warmup, duration time.Duration, jsonOut bool, stdout, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "liveloop-load: %v\n", err)
		return 1
	}
	bound := time.Minute
	for _, n := range counts {
		bound += time.Duration(float64(n)/max(ramp, 1)*float64(time.Second)) + warmup + duration + 30*time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	points, err := loadtest.RunRoomFloor(ctx, loadtest.RoomFloorConfig{
		Command: []string{exe, loadtest.RoomFloorWriterArg, "--mark-interval", interval.String()},
		Viewers: counts, Ramp: ramp, Warmup: warmup, Duration: duration,
	})
	if len(points) > 0 {
		if jsonOut {
			loadtest.WriteRoomFloorTable(stderr, points)
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(points)
		} else {
			loadtest.WriteRoomFloorTable(stdout, points)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "liveloop-load: %v\n", err)
		return 1
	}
	return 0
}

// roomFloorWriter is the writing process of the room-floor mode.
func roomFloorWriter(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(loadtest.RoomFloorWriterArg, flag.ContinueOnError)
	fs.SetOutput(stderr)
	interval := fs.Duration("mark-interval", 500*time.Millisecond, "write a marker frame to every connection this often")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := loadtest.RoomFloorWriter(ctx, *interval, os.Stdout); err != nil {
		fmt.Fprintf(stderr, "liveloop-load: room floor writer: %v\n", err)
		return 1
	}
	return 0
}

func parseCounts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > loadtest.MaxViewers {
			return nil, fmt.Errorf("%q: want counts from 1 to %d", f, loadtest.MaxViewers)
		}
		out = append(out, n)
	}
	return out, nil
}

// readClip reads the FLV file at path, or the built-in demo clip when
// path is empty.
func readClip(path string) (*demo.Clip, error) {
	if path == "" {
		return demo.Builtin()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return demo.Parse(b)
}
