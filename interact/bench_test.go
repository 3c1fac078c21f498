package interact

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkVote measures the vote path: check, durable append to
// JetStream (file store), apply, verdict. Many votes are in flight at once,
// as from many viewers.
func BenchmarkVote(b *testing.B) {
	n := startNode(b, b.TempDir(), func(c *Config) { c.MaxKeys = 1 << 20 })
	id := mustDo(b, n.rooms, host, Command{Type: CmdPollCreate, Poll: &PollSpec{Question: "Q", Options: []string{"a", "b", "c"}, Open: true}}).ID
	var next atomic.Int64
	b.SetParallelism(128)
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			a := Actor{ID: fmt.Sprintf("bv%d", i), Role: RoleViewer}
			if _, err := n.rooms.Do(ctx(b), "s", a, Command{Type: CmdVote, ID: id, Choices: []int{int(i % 3)}, Key: "k"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "votes/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/vote")
	p, err := n.rooms.Poll(ctx(b), "s", id, true)
	if err != nil {
		b.Fatal(err)
	}
	if *p.Voters != b.N {
		b.Fatalf("tally %d, want %d", *p.Voters, b.N)
	}
}
