package whep

import (
	"errors"
	"time"

	"github.com/liveloop/liveloop/hub"
	"github.com/liveloop/liveloop/media"
)

// companion plays the Opus of a stream's companion audio stream
// ({stream}{AudioSuffix}, which package transcode makes from its AAC)
// while it exists, looking for it every audioPoll otherwise.
//
// The stream's live writer polls it after each batch of the main stream
// it writes to the viewer, without waiting, so that a viewer's audio packets go out
// with its video frames (one batch, see webrtcapi.Batch) rather than each
// on its own wake-up and send: the companion's frames come from the main
// stream's audio, which the hub hands over with the next video frame, or
// after hub.Config.AudioHold at the latest, so they wait no longer than
// the stream's own audio does.
type companion struct {
	s     *session
	name  string
	snd   *sender
	clock *audioClock
	sub   *hub.Subscriber // nil while the stream does not exist
	next  time.Time       // when to look for it again
	pays  [][]byte
}

func newCompanion(s *session, b *binding) *companion {
	return &companion{s: s, name: s.Stream() + s.h.cfg.AudioSuffix, snd: newSender(s, s.audio, b), clock: newAudioClock()}
}

// poll writes the companion's frames that have arrived.
func (c *companion) poll() error {
	now := c.s.h.cfg.Now()
	if c.sub == nil {
		if now.Before(c.next) {
			return nil
		}
		sub, err := c.s.h.cfg.Hub.Subscribe(c.name)
		if err != nil {
			c.next = now.Add(audioPoll)
			return nil
		}
		c.sub = sub
		c.clock.skipping = true
		c.snd.first = true
	}
	for {
		bt, ok, _, err := c.sub.Poll()
		if err != nil {
			if errors.Is(err, hub.ErrEnded) {
				c.sub.Close()
				c.sub, c.next = nil, now
			}
			return nil
		}
		if !ok {
			return nil // nothing more for now
		}
		if bt.Skipped > 0 {
			c.clock.skipping = true
		}
		for _, p := range bt.Packets {
			if p.Frame == nil || p.Video || p.Track().Codec != media.CodecOpus {
				continue
			}
			ts, ok := c.clock.stamp(p.Frame.PTS, p.Track().ClockRate, now.Sub(p.Frame.Wall))
			if !ok {
				continue
			}
			c.pays = append(c.pays[:0], nil, p.Frame.Data)
			if err := c.snd.write(c.pays, ts, ntpTime(p.Frame.Wall), now); err != nil {
				return err
			}
		}
	}
}

func (c *companion) close() {
	if c.sub != nil {
		c.sub.Close()
	}
}
