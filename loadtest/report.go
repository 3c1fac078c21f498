package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as a table, one row per audience size.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "liveloop-load: stream %q, server http %s rtmp %s", r.Stream, r.HTTPAddr, r.RTMPAddr)
	if r.ServerPID != 0 {
		fmt.Fprintf(w, " pid %d", r.ServerPID)
	} else {
		fmt.Fprint(w, " (no server pid: CPU and RSS not measured)")
	}
	if r.Bitrate != "" {
		fmt.Fprintf(w, ", clip bitrate %s", r.Bitrate)
	}
	fmt.Fprintln(w)
	switch r.Mode {
	case ModeHLS:
		return r.writeHLS(w)
	case ModeWHEP:
		return r.writeWHEP(w)
	case ModeRoom:
		return r.writeRoom(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join([]string{
		"viewers", "ok", "srv cpu ms/v·s", "srv cpu %", "tool cpu %", "other %",
		"rss KB/v", "heap KB/v", "live KB/v", "lat p50", "p90", "p99", "max ms",
		"start p50", "p99 ms", "loss", "gaps", "Mbit/s/v", "pub Mbit/s", "",
	}, "\t"))
	for _, p := range r.Points {
		fmt.Fprintf(tw, "%d\t%d\t%.4f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f\t%.4f%%\t%d\t%.2f\t%.2f\t\n",
			p.Viewers, p.Connected, p.ServerCPUPerViewerMS, p.ServerCPUPercent, p.ClientCPUPercent, p.OtherCPUPercent,
			p.MemPerViewerKB, p.HeapPerViewerKB, p.LivePerViewerKB,
			p.Latency.P50, p.Latency.P90, p.Latency.P99, p.Latency.Max,
			p.Startup.P50, p.Startup.P99,
			p.Loss*100, p.Gaps, p.DeliveredMbpsPerViewer, p.PublishMbps)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	r.writeFailures(w)
	_, err := fmt.Fprintln(w, "srv cpu ms/v·s: server CPU ms per viewer-second; rss/heap/live KB/v: growth per viewer over the baseline (live: heap the last GC found live, plus stacks); lat: send to receive of each video frame.")
	return err
}

func (r *Report) writeFailures(w io.Writer) {
	for _, p := range r.Points {
		if len(p.Errors) > 0 || p.Failed > 0 {
			fmt.Fprintf(w, "%d clients: %d failed: %s\n", p.Viewers, p.Failed, strings.Join(p.Errors, "; "))
		}
	}
}

func (r *Report) writeHLS(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join([]string{
		"viewers", "ok", "srv cpu %", "%/1000 v", "ms/v·s", "tool cpu %", "other %",
		"rss KB/v", "heap KB/v", "live KB/v", "req/s", "parts/v·s", "lat p50", "p90", "p99", "max ms",
		"start p50", "p99 ms", "loss", "gaps", "bad req", "resyncs", "Mbit/s/v", "",
	}, "\t"))
	for _, p := range r.Points {
		h := p.HLS
		if h == nil {
			h = &HLSFigures{}
		}
		fmt.Fprintf(tw, "%d\t%d\t%.1f\t%.1f\t%.4f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.4f%%\t%d\t%d\t%d\t%.2f\t\n",
			p.Viewers, p.Connected, p.ServerCPUPercent, p.ServerCPUPer1000, p.ServerCPUPerViewerMS, p.ClientCPUPercent, p.OtherCPUPercent,
			p.MemPerViewerKB, p.HeapPerViewerKB, p.LivePerViewerKB, h.RequestsPerSecond, h.PartsPerViewerSec,
			p.Latency.P50, p.Latency.P90, p.Latency.P99, p.Latency.Max,
			p.Startup.P50, p.Startup.P99, p.Loss*100, p.Gaps,
			h.Status400+h.Status404+h.Status503+h.StatusOther+h.TransportErrors, h.Resyncs, p.DeliveredMbpsPerViewer)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Points {
		if h := p.HLS; h != nil && h.Status400+h.Status404+h.Status503+h.StatusOther+h.TransportErrors > 0 {
			fmt.Fprintf(w, "%d viewers: HTTP 400 %d, 404 %d, 503 %d, other %d, transport errors %d\n",
				p.Viewers, h.Status400, h.Status404, h.Status503, h.StatusOther, h.TransportErrors)
		}
	}
	r.writeFailures(w)
	_, err := fmt.Fprintln(w, "%/1000 v: server CPU (% of a core) per 1,000 viewers; ms/v·s: server CPU ms per viewer-second; lat: publisher send to the arrival of each video frame's bytes; start: first playlist request to the first frame of the first part.")
	return err
}

func (r *Report) writeRoom(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join([]string{
		"clients", "ok", "srv cpu %", "%/1000 c", "tool cpu %", "other %", "rss KB/c", "heap KB/c", "live KB/c",
		"fan-out p50", "p99", "max ms", "marks got/exp", "votes/s ok", "sent/s", "vote ack p50", "p99 ms",
		"chat ok/s", "chat deliv/s", "react ok/s", "refused", "backlog", "resumed", "start p99 ms", "",
	}, "\t"))
	for _, p := range r.Points {
		f := p.Room
		if f == nil {
			f = &RoomFigures{}
		}
		var refused uint64
		for _, n := range f.Refused {
			refused += n
		}
		wall := max(p.WallSeconds, 1e-9)
		fmt.Fprintf(tw, "%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d/%d\t%.0f\t%.0f\t%.1f\t%.1f\t%.1f\t%.0f\t%.1f\t%d\t%d\t%d\t%.1f\t\n",
			p.Viewers, p.Connected, p.ServerCPUPercent, p.ServerCPUPer1000, p.ClientCPUPercent, p.OtherCPUPercent,
			p.MemPerViewerKB, p.HeapPerViewerKB, p.LivePerViewerKB,
			f.Fanout.P50, f.Fanout.P99, f.Fanout.Max, f.MarkerDeliveries, f.Markers*uint64(p.Connected),
			f.VotesPerSecond, float64(f.Sent["vote"])/wall, f.VoteAck.P50, f.VoteAck.P99,
			float64(f.Accepted["chat"])/wall, f.ChatDeliveriesPerSecond, float64(f.Accepted["react"])/wall,
			refused, f.Backlog, f.Resumed, p.Startup.P99)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Points {
		if f := p.Room; f != nil && len(f.Refused) > 0 {
			codes := make([]string, 0, len(f.Refused))
			for c, n := range f.Refused {
				codes = append(codes, fmt.Sprintf("%s %d", c, n))
			}
			slices.Sort(codes)
			fmt.Fprintf(w, "%d clients: refused: %s\n", p.Viewers, strings.Join(codes, ", "))
		}
	}
	r.writeFailures(w)
	_, err := fmt.Fprintln(w, "%/1000 c: server CPU (% of a core) per 1,000 connections; fan-out: the host's marker chat message, send to arrival at each client; marks got/exp: marker arrivals in the window / markers sent × clients; vote ack: send to acknowledged result (durable in JetStream); backlog: commands not sent because the client had 16 unanswered.")
	return err
}

func (r *Report) writeWHEP(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join([]string{
		"viewers", "ok", "srv cpu ms/v·s", "srv cpu %", "tool cpu %", "other %",
		"rss KB/v", "heap KB/v", "live KB/v", "lat p50", "p90", "p99", "max ms",
		"start p50", "p99 ms", "dtls→key p50", "p99 ms", "loss", "gaps", "rtp miss", "late",
		"video Mbit/s/v", "opus kbit/s/v", "no audio", "",
	}, "\t"))
	for _, p := range r.Points {
		f := p.WHEP
		if f == nil {
			f = &WHEPFigures{}
		}
		fmt.Fprintf(tw, "%d\t%d\t%.4f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.4f%%\t%d\t%d\t%d\t%.2f\t%.1f\t%d\t\n",
			p.Viewers, p.Connected, p.ServerCPUPerViewerMS, p.ServerCPUPercent, p.ClientCPUPercent, p.OtherCPUPercent,
			p.MemPerViewerKB, p.HeapPerViewerKB, p.LivePerViewerKB,
			p.Latency.P50, p.Latency.P90, p.Latency.P99, p.Latency.Max,
			p.Startup.P50, p.Startup.P99, f.FirstKeyframe.P50, f.FirstKeyframe.P99,
			p.Loss*100, p.Gaps, f.PacketsMissing, f.PacketsLate,
			f.VideoMbpsPerViewer, f.AudioKbpsPerViewer, f.ViewersWithoutAudio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	r.writeFailures(w)
	_, err := fmt.Fprintln(w, "srv cpu ms/v·s: server CPU ms per viewer-second; rss/heap/live KB/v: growth per viewer over the baseline (live: heap the last GC found live, plus stacks); lat: publisher send to the arrival of each video frame's last RTP packet; start: POST of the offer to the first keyframe; dtls→key: DTLS connected to the first keyframe; loss/gaps: frames missing from the stamps' sequence; rtp miss: RTP sequence gaps before retransmission; late: retransmitted or reordered packets.")
	return err
}
