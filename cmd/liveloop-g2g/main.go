// Command liveloop-g2g measures glass-to-glass latency: Go makes frames
// stamped with their capture instant as a barcode, ffmpeg (x264
// zerolatency) publishes them over RTMP, and headless Chromium plays the
// watch page and reads each displayed frame's stamp back. By default it
// starts the server itself (--server-bin) on free loopback ports; with
// --http and --rtmp it measures a running one.
//
//	liveloop-g2g --runs 5 --duration 10s
//	liveloop-g2g --http 127.0.0.1:8080 --rtmp 127.0.0.1:1935 --json
//
// The logic is in package g2g.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/liveloop/liveloop/g2g"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("liveloop-g2g", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		serverBin = fs.String("server-bin", "", "liveloop binary to start (default: liveloop next to this binary, or in PATH)")
		httpAddr  = fs.String("http", "", "measure a running server: its HTTP `host:port` (with --rtmp)")
		rtmpAddr  = fs.String("rtmp", "", "measure a running server: its RTMP `host:port` (with --http)")
		stream    = fs.String("stream", "g2g", "stream name")
		proto     = fs.String("proto", "ws", "watch page transport (?proto=)")
		target    = fs.Float64("target", 0, "the player's target buffer ahead, seconds, passed as ?target= (default: the player's)")
		runs      = fs.Int("runs", 5, "fresh pages to measure, one after another")
		duration  = fs.Duration("duration", 10*time.Second, "measured time per page, from its first stamped frame")
		skip      = fs.Duration("skip", time.Second, "start of each page left out of the steady-state figures")
		size      = fs.String("size", "640x360", "picture `WxH`")
		fps       = fs.Int("fps", 30, "frame rate")
		gop       = fs.Int("gop", 30, "keyframe interval, frames")
		bframes   = fs.Int("bframes", 0, "encode like OBS's x264 defaults with up to this many B-frames, instead of zerolatency")
		audio     = fs.Bool("audio", true, "add a silent AAC track, like a real encoder")
		ffmpeg    = fs.String("ffmpeg", "ffmpeg", "ffmpeg executable")
		chromium  = fs.String("chromium", "chromium", "Chromium executable")
		timeout   = fs.Duration("timeout", 0, "bound on the whole measurement (default: from runs and duration)")
		jsonOut   = fs.Bool("json", false, "write the report as JSON on stdout (the table goes to stderr)")
		samples   = fs.Bool("samples", false, "with --json, include every sample (display time and g2g, ms)")
		verbose   = fs.Bool("v", false, "log progress")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "liveloop-g2g: unexpected arguments %q\n", fs.Args())
		return 2
	}
	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil {
		fmt.Fprintf(stderr, "liveloop-g2g: --size %q: want WxH\n", *size)
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg := g2g.Config{
		HTTPAddr: *httpAddr, RTMPAddr: *rtmpAddr, ServerBin: *serverBin,
		Stream: *stream, Proto: *proto, Target: *target, Runs: *runs, Duration: *duration, Skip: *skip,
		Publisher: g2g.PublisherConfig{Width: w, Height: h, FPS: *fps, GOP: *gop, BFrames: *bframes, Audio: *audio, FFmpeg: *ffmpeg},
		Log:       log, KeepSamples: *samples,
	}
	cfg.Chromium.ExecPath = *chromium
	bound := *timeout
	if bound <= 0 {
		bound = time.Minute + time.Duration(max(*runs, 1))*(*duration+20*time.Second)
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	rep, err := g2g.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "liveloop-g2g: %v\n", err)
		return 1
	}
	if *jsonOut {
		rep.WriteText(stderr)
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "liveloop-g2g: %v\n", err)
			return 1
		}
		return 0
	}
	rep.WriteText(stdout)
	return 0
}
