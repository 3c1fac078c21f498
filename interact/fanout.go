package interact

import "errors"

// The fan-out. A room's goroutine does not hand a batch to each of its
// subscribers itself: it gives each fan-out worker (Config.FanoutWorkers,
// one per CPU by default) the batch and the worker's share of the room's
// subscribers, a list the room rebuilds when its subscribers change and
// never modifies after. The worker hands the batch to each subscriber in
// turn: to its sink (Sub.Attach), which writes it at once without
// blocking, or to its channel before it is attached. A subscriber is
// always in the same worker's share, and a worker takes its jobs in
// order, so every subscriber gets the batches in the order the room made
// them. A staff event (a host's message, a poll opened) thus reaches
// 10,000 viewers with 10,000 writes from a few goroutines, where a
// goroutine per viewer took 10,000 wake-ups and goroutine switches more.

// fanQueue bounds the jobs waiting for one fan-out worker. A room whose
// worker is that far behind waits for it (workers never wait for rooms).
const fanQueue = 256

// ErrCutOff is returned by Sub.Attach when the room cut the subscriber
// off (it fell behind, or the room stopped) before it was attached.
var ErrCutOff = errors.New("interact: subscriber cut off")

// fanJob is one batch for one worker's share of a room's subscribers:
// viewers get public, staff get staff (either may be nil: nothing).
type fanJob struct {
	public, staff *Batch
	subs          []*Sub // not modified after the job is made
}

// runFanout is one fan-out worker: it runs until the rooms are closed
// (after every room has stopped).
func (rs *Rooms) runFanout(jobs <-chan fanJob) {
	for {
		select {
		case j := <-jobs:
			for _, s := range j.subs {
				b := j.public
				if s.staff {
					b = j.staff
				}
				if b != nil && s.deliver(b) {
					rs.metrics.lagged.Add(1)
				}
			}
		case <-rs.quit:
			return
		}
	}
}

// fanout queues a job for worker i (a room's goroutine).
func (rs *Rooms) fanout(i int, j fanJob) {
	select {
	case rs.lanes[i] <- j:
	case <-rs.quit:
	}
}

// nextLane picks the fan-out worker of a new subscriber.
func (rs *Rooms) nextLane() int {
	return int(rs.laneNext.Add(1) % uint64(len(rs.lanes)))
}

// buildLanes makes the workers' shares of subs, leaving out subscribers
// cut off.
func (rs *Rooms) buildLanes(subs map[*Sub]struct{}) [][]*Sub {
	lanes := make([][]*Sub, len(rs.lanes))
	for s := range subs {
		if !s.dead.Load() {
			lanes[s.lane] = append(lanes[s.lane], s)
		}
	}
	return lanes
}
