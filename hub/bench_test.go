package hub

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/liveloop/liveloop/media"
)

// BenchmarkFanout publishes video frames to a stream with n subscribers that
// read every batch, and reports the cost per published frame (all
// subscribers included). Subscribers do no I/O: this is the hub's own cost.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 500} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			h := New(Config{MaxLag: time.Hour}, nil, nil)
			p, err := h.Publish("bench")
			if err != nil {
				b.Fatal(err)
			}
			v := *testVideo
			if err := p.SetTracks([]*media.Track{&v}); err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 10000)
			write := func(i int) {
				p.WriteFrame(&media.Frame{DTS: int64(i) * 3000, PTS: int64(i) * 3000, Key: i%60 == 0, Data: payload, Wall: time.Now()})
			}
			write(0)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var got sync.WaitGroup
			for range n {
				sub, err := h.Subscribe("bench")
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				got.Add(1)
				go func() {
					defer wg.Done()
					defer sub.Close()
					last := uint64(0)
					done := false
					for {
						batch, err := sub.Next(ctx)
						if err != nil {
							return
						}
						if k := len(batch.Packets); k > 0 {
							last = batch.Packets[k-1].Seq
						}
						if !done && last >= uint64(b.N)+1 {
							done = true
							got.Done()
						}
					}
				}()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 1; i <= b.N; i++ {
				write(i)
			}
			got.Wait() // every subscriber has read the last frame
			b.StopTimer()
			cancel()
			wg.Wait()
		})
	}
}
