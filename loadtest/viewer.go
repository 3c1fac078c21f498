package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/liveloop/liveloop/fmp4"
	"github.com/liveloop/liveloop/websocket"
)

// viewer is one WebSocket client of /ws/{stream}. Its goroutine (run) owns
// the connection; the counters it keeps for the measured window are guarded
// by mu so the controller can reset and read them.
type viewer struct {
	url string
	now func() time.Time

	// startup: dial start to the first media with a keyframe; started
	// closes then.
	member

	mu sync.Mutex
	st viewerStats
}

// viewerStats are one viewer's counters over the measured window.
type viewerStats struct {
	lat      Histogram // per video frame: receive time - stamp send time
	frames   uint64    // stamped video frames received
	missing  uint64    // frames missing from Seq gaps
	gaps     uint64    // Seq gaps (a skip to a later keyframe, or loss)
	reorders uint64    // frames with a Seq not above the last one
	unstamp  uint64    // video samples without a stamp
	bytes    uint64    // WebSocket payload bytes received
	messages uint64
}

func newViewer(url string, now func() time.Time) *viewer {
	return &viewer{url: url, now: now, member: newMember()}
}

// reset forgets the counters: the measured window starts.
func (v *viewer) reset() {
	v.mu.Lock()
	v.st = viewerStats{}
	v.mu.Unlock()
}

// snapshot copies the counters into dst and merges the latencies into h.
func (v *viewer) snapshot(dst *viewerStats, h *Histogram) {
	v.mu.Lock()
	dst.frames += v.st.frames
	dst.missing += v.st.missing
	dst.gaps += v.st.gaps
	dst.reorders += v.st.reorders
	dst.unstamp += v.st.unstamp
	dst.bytes += v.st.bytes
	dst.messages += v.st.messages
	h.Merge(&v.st.lat)
	v.mu.Unlock()
}

// serverMsg is the part of the server's text messages the viewer needs.
type serverMsg struct {
	Type    string `json:"type"`
	State   string `json:"state"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Tracks  []struct {
		ID   uint32 `json:"id"`
		Kind string `json:"kind"`
	} `json:"tracks"`
}

// errStreamEnded is how a viewer ends when the server ends the stream.
var errStreamEnded = errors.New("loadtest: stream ended")

// run connects and reads until ctx is done or the connection ends. It
// returns nil when ctx ended it.
func (v *viewer) run(ctx context.Context, connectTimeout time.Duration) {
	defer close(v.exited)
	v.err = v.play(ctx, connectTimeout)
	if ctx.Err() != nil {
		v.err = nil
	}
}

func (v *viewer) play(ctx context.Context, connectTimeout time.Duration) error {
	t0 := v.now()
	dctx, cancel := context.WithTimeout(ctx, connectTimeout)
	conn, err := websocket.Dial(dctx, v.url, websocket.Options{MaxMessage: 64 << 20})
	cancel()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close(websocket.CloseNormal, "") })
	defer func() {
		if stop() {
			conn.Close(websocket.CloseNormal, "")
		}
	}()

	var (
		video      uint32 // video track ID, from the init message
		expectInit bool   // the next binary message is an init segment
		keyed      bool   // a keyframe has arrived
		last       uint32 // Seq of the newest frame
		haveLast   bool
		buf        []byte // each message's storage, reused
	)
	for {
		op, msg, err := conn.ReadMessageInto(buf)
		if err != nil {
			return err
		}
		buf = msg
		recv := v.now()
		if op == websocket.OpText {
			var m serverMsg
			if err := json.Unmarshal(msg, &m); err != nil {
				return fmt.Errorf("loadtest: bad text message: %w", err)
			}
			switch m.Type {
			case "init":
				expectInit = true
				for _, t := range m.Tracks {
					if t.Kind == "video" {
						video = t.ID
					}
				}
			case "error":
				return fmt.Errorf("loadtest: server error %s: %s", m.Code, m.Message)
			case "status":
				if m.State == "ended" {
					return errStreamEnded
				}
			}
			v.mu.Lock()
			v.st.bytes += uint64(len(msg))
			v.st.messages++
			v.mu.Unlock()
			continue
		}
		if expectInit {
			expectInit = false
			v.mu.Lock()
			v.st.bytes += uint64(len(msg))
			v.st.messages++
			v.mu.Unlock()
			continue
		}
		frags, err := fmp4.ParseFragments(msg)
		if err != nil {
			return fmt.Errorf("loadtest: media message: %w", err)
		}
		v.mu.Lock()
		v.st.bytes += uint64(len(msg))
		v.st.messages++
		for _, f := range frags {
			for i := range f.Tracks {
				tf := &f.Tracks[i]
				if tf.TrackID != video {
					continue
				}
				for j := range tf.Samples {
					s := &tf.Samples[j]
					if !keyed && fmp4.IsSync(s.Flags) {
						keyed = true
						v.startup = recv.Sub(t0)
						close(v.started)
					}
					st, err := ExtractStamp(s.Data)
					if err != nil {
						v.st.unstamp++
						continue
					}
					v.st.frames++
					v.st.lat.Record(recv.Sub(time.Unix(0, st.SendTime)))
					switch {
					case !haveLast:
						haveLast = true
					case st.Seq == last+1:
					case st.Seq > last+1:
						v.st.missing += uint64(st.Seq - last - 1)
						v.st.gaps++
					default:
						v.st.reorders++
						continue
					}
					last = st.Seq
				}
			}
		}
		v.mu.Unlock()
	}
}
