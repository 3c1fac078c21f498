package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
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
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join([]string{
		"viewers", "ok", "srv cpu ms/v·s", "srv cpu %", "tool cpu %", "other %",
		"rss KB/v", "heap KB/v", "lat p50", "p90", "p99", "max ms",
		"start p50", "p99 ms", "loss", "gaps", "Mbit/s/v", "pub Mbit/s", "",
	}, "\t"))
	for _, p := range r.Points {
		fmt.Fprintf(tw, "%d\t%d\t%.4f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f\t%.4f%%\t%d\t%.2f\t%.2f\t\n",
			p.Viewers, p.Connected, p.ServerCPUPerViewerMS, p.ServerCPUPercent, p.ClientCPUPercent, p.OtherCPUPercent,
			p.MemPerViewerKB, p.HeapPerViewerKB,
			p.Latency.P50, p.Latency.P90, p.Latency.P99, p.Latency.Max,
			p.Startup.P50, p.Startup.P99,
			p.Loss*100, p.Gaps, p.DeliveredMbpsPerViewer, p.PublishMbps)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Points {
		if len(p.Errors) > 0 || p.Failed > 0 {
			fmt.Fprintf(w, "%d viewers: %d failed: %s\n", p.Viewers, p.Failed, strings.Join(p.Errors, "; "))
		}
	}
	_, err := fmt.Fprintln(w, "srv cpu ms/v·s: server CPU ms per viewer-second; rss/heap KB/v: growth per viewer over the baseline; lat: send to receive of each video frame.")
	return err
}
