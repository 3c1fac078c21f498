package interact

import (
	"cmp"
	"errors"
	"slices"
	"sync/atomic"
)

// The fan-out. A room's goroutine does not hand a batch to each of its
// subscribers itself: it gives every fan-out worker (Config.FanoutWorkers,
// one per CPU by default) the same job, the batch and the room's
// subscribers (a list the room rebuilds when they change and never
// modifies after, in the order they subscribed), and the workers share
// the list out between them as they go: each takes the next fanChunk
// subscribers until none are left, and hands the batch to each in turn:
// to its sink (Sub.Attach), which writes it at once without blocking, or
// to its channel before it is attached. So the workers finish a job
// together, whichever of them the machine's other work holds up, where
// fixed halves left one worker writing alone for tens of milliseconds
// after the other was done (at 10,000 viewers on two cores, a fan-out's
// last delivery came up to 40 ms after the first worker had finished).
//
// Order: every worker takes the jobs in the order the rooms made them,
// and a worker that has run out of a job's subscribers waits until the
// job's last chunk is written (at most one chunk's writes) before it
// takes its next job, so a subscriber gets a room's batches in order
// whichever worker writes each. A staff event (a host's message, a poll
// opened) thus reaches 10,000 viewers with 10,000 writes from a few
// goroutines, where a goroutine per viewer took 10,000 wake-ups and
// goroutine switches more.

// fanQueue bounds the jobs waiting for one fan-out worker. A room whose
// workers are that far behind waits for them (workers never wait for
// rooms).
const fanQueue = 256

// fanChunk is how many subscribers a worker takes from a job at a time:
// about a millisecond of writes on loopback, so the workers of a job
// finish within about that of each other.
const fanChunk = 64

// ErrCutOff is returned by Sub.Attach when the room cut the subscriber
// off (it fell behind, or the room stopped) before it was attached.
var ErrCutOff = errors.New("interact: subscriber cut off")

// fanJob is one batch for a room's subscribers: viewers get public, staff
// get staff (either may be nil: nothing). Every worker gets the job.
type fanJob struct {
	public, staff *Batch
	subs          []*Sub // not modified after the job is made
	next          atomic.Int64
	written       atomic.Int64  // subscribers handed the batch
	done          chan struct{} // closed when written reaches len(subs)
}

func newFanJob(public, staff *Batch, subs []*Sub) *fanJob {
	return &fanJob{public: public, staff: staff, subs: subs, done: make(chan struct{})}
}

// runFanout is one fan-out worker: it runs until the rooms are closed
// (after every room has stopped).
func (rs *Rooms) runFanout(jobs <-chan *fanJob) {
	for {
		select {
		case j := <-jobs:
			rs.work(j)
			// A later job of the room goes to the same subscribers: let
			// the other workers finish their chunks of this one first.
			select {
			case <-j.done:
			case <-rs.quit:
				return
			}
		case <-rs.quit:
			return
		}
	}
}

// work hands j's batch to chunks of its subscribers until none are left.
func (rs *Rooms) work(j *fanJob) {
	n := int64(len(j.subs))
	for {
		lo := j.next.Add(fanChunk) - fanChunk
		if lo >= n {
			return
		}
		hi := min(lo+fanChunk, n)
		for _, s := range j.subs[lo:hi] {
			b := j.public
			if s.staff {
				b = j.staff
			}
			if b != nil && s.deliver(b) {
				rs.metrics.lagged.Add(1)
			}
		}
		if j.written.Add(hi-lo) == n {
			close(j.done)
		}
	}
}

// fanout gives a job to every worker (a room's goroutine).
func (rs *Rooms) fanout(j *fanJob) {
	for _, lane := range rs.lanes {
		select {
		case lane <- j:
		case <-rs.quit:
			return
		}
	}
}

// fanList makes a room's list of subscribers to fan out to: those not cut
// off, in the order they subscribed.
func fanList(subs map[*Sub]struct{}) []*Sub {
	list := make([]*Sub, 0, len(subs))
	for s := range subs {
		if !s.dead.Load() {
			list = append(list, s)
		}
	}
	slices.SortFunc(list, func(a, b *Sub) int { return cmp.Compare(a.id, b.id) })
	return list
}
