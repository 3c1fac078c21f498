package roomapi

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveloop/liveloop/interact"
	"github.com/liveloop/liveloop/websocket"
)

// BenchmarkFanout measures events to N viewer channels over real
// WebSockets: b.N chat messages are posted back to back, and the clock
// stops when every viewer has received every one. It reports deliveries
// per second and the latency, post to arrival, of the last viewer.
func BenchmarkFanout(b *testing.B) {
	for _, viewers := range []int{100, 1000} {
		b.Run(fmt.Sprintf("viewers=%d", viewers), func(b *testing.B) {
			n := startNode(b, b.TempDir(), func(c *interact.Config) { c.FlushInterval = 100 * time.Millisecond })
			host := n.session(b, "Host", interact.RoleHost)
			hostActor, _ := n.api.sessions.verify(host.Token)
			url := "ws" + strings.TrimPrefix(n.srv.URL, "http") + "/api/v1/streams/s/live"
			var wg sync.WaitGroup
			latencies := make([]time.Duration, viewers)
			var t0 time.Time
			ready := sync.WaitGroup{}
			conns := make([]*websocket.Conn, viewers)
			for i := range viewers {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c, err := websocket.Dial(ctx, url, websocket.Options{})
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				conns[i] = c
				ready.Add(1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					first := true
					got := 0
					for {
						_, msg, err := c.ReadMessage()
						if err != nil {
							return
						}
						if first && strings.Contains(string(msg), `"type":"snapshot"`) {
							first = false
							ready.Done()
							continue
						}
						got += strings.Count(string(msg), `"type":"chat.message"`)
						if got >= b.N {
							latencies[i] = time.Since(t0)
							return
						}
					}
				}()
			}
			ready.Wait()
			b.ResetTimer()
			t0 = time.Now()
			var pw sync.WaitGroup
			for i := range b.N {
				pw.Add(1)
				go func() {
					defer pw.Done()
					if _, err := n.rooms.Do(context.Background(), "s", hostActor, interact.Command{Type: interact.CmdChatSend, Text: fmt.Sprint("m", i)}); err != nil {
						b.Error(err)
					}
				}()
			}
			pw.Wait()
			wg.Wait()
			b.StopTimer()
			el := time.Since(t0)
			for _, c := range conns {
				c.Close(websocket.CloseNormal, "")
			}
			sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
			b.ReportMetric(float64(viewers*b.N)/el.Seconds(), "deliveries/s")
			b.ReportMetric(float64(latencies[len(latencies)*99/100].Milliseconds()), "p99-ms")
		})
	}
}
