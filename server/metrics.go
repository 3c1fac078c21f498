package server

import (
	"net/http"
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves the node's counters in the Prometheus format. The
// counters live in the components; a collector reads them at scrape time,
// so the media path pays nothing for metrics.
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		// With the heap the last collection found live (go_gc_heap_live_bytes):
		// memory per viewer without the garbage awaiting the next cycle.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{s: s},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

type metric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*Server) float64
}

func newMetric(name, help string, typ prometheus.ValueType, value func(*Server) float64) metric {
	return metric{prometheus.NewDesc("liveloop_"+name, help, nil, nil), typ, value}
}

var metrics = []metric{
	newMetric("streams", "Streams live or waiting for their publisher.", prometheus.GaugeValue,
		func(s *Server) float64 { return float64(s.hub.Stats().Streams) }),
	newMetric("subscribers", "Hub subscribers (viewers of every format).", prometheus.GaugeValue,
		func(s *Server) float64 { return float64(s.hub.Stats().Subscribers) }),
	newMetric("frames_ingested_total", "Frames published into the hub.", prometheus.CounterValue,
		func(s *Server) float64 { return float64(s.hub.Stats().FramesIn) }),
	newMetric("bytes_ingested_total", "Payload bytes published into the hub.", prometheus.CounterValue,
		func(s *Server) float64 { return float64(s.hub.Stats().BytesIn) }),
	newMetric("frames_dropped_total", "Frames dropped at ingest (before a keyframe, non-increasing timestamps).", prometheus.CounterValue,
		func(s *Server) float64 { return float64(s.hub.Stats().FramesDropped) }),
	newMetric("subscriber_skips_total", "Times a slow subscriber skipped ahead to a keyframe.", prometheus.CounterValue,
		func(s *Server) float64 { return float64(s.hub.Stats().Skips) }),
	newMetric("publisher_takeovers_total", "Times a publisher replaced another on a live stream.", prometheus.CounterValue,
		func(s *Server) float64 { return float64(s.hub.Stats().Takeovers) }),
	newMetric("ws_viewers", "Connected WebSocket viewers.", prometheus.GaugeValue,
		func(s *Server) float64 { return float64(s.ws.Stats().Viewers) }),
	newMetric("ws_bytes_sent_total", "Media bytes sent to WebSocket viewers.", prometheus.CounterValue,
		func(s *Server) float64 { return float64(s.ws.Stats().BytesSent) }),
	newMetric("hls_bytes_sent_total", "Bytes sent to LL-HLS clients.", prometheus.CounterValue,
		func(s *Server) float64 { return float64(s.hls.Stats().BytesSent) }),
	newMetric("hls_blocked_requests", "LL-HLS requests blocked now (playlist reloads and hinted parts).", prometheus.GaugeValue,
		func(s *Server) float64 { return float64(s.hls.Stats().Waiting) }),
	newMetric("rtmp_connections", "Open RTMP connections.", prometheus.GaugeValue,
		func(s *Server) float64 { return float64(s.rtmp.Stats().Active) }),
	newMetric("rtmp_bytes_received_total", "Bytes received from RTMP publishers.", prometheus.CounterValue,
		func(s *Server) float64 { return float64(s.rtmp.Stats().BytesIn) }),
	newMetric("rtmp_publishes_refused_total", "RTMP publishes refused.", prometheus.CounterValue,
		func(s *Server) float64 { return float64(s.rtmp.Stats().Refused) }),
}

type collector struct{ s *Server }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metrics {
		ch <- m.desc
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(c.s))
	}
}
