package resource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Session is one WHIP or WHEP session: a PeerConnection, the protocol's
// Peer, and the workers the Peer starts. Its context ends it; a listed
// session is then cleaned up (finish, run by context.AfterFunc): the
// PeerConnection closed, the workers waited for, Peer.Ended called and
// the session forgotten. Nothing waits on a session while it runs: a
// timer ends it if its peer does not connect in time, so that a viewer
// costs no goroutine of its own here.
type Session struct {
	srv    *Server
	peer   Peer
	id     string
	stream string
	offer  string // until it is applied
	pc     *webrtc.PeerConnection

	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the session is over and cleaned up

	connectOnce sync.Once
	connected   chan struct{}
	connectedAt time.Time   // set before connected closes
	connectBy   *time.Timer // ends the session if the peer has not connected

	mu      sync.Mutex // guards closing against Go and Hold
	closing bool
	wg      sync.WaitGroup // the workers (Go) and holds (Hold)
}

// ID returns the session's ID, the last element of its resource URL.
func (s *Session) ID() string { return s.id }

// Stream returns the name of the session's stream.
func (s *Session) Stream() string { return s.stream }

// Logger returns the session's logger (with stream and session). It is
// made on each call, for the few events of a session: a logger kept for
// each would cost every viewer a copy of the handler's state.
func (s *Session) Logger() *slog.Logger {
	return s.srv.log.With("stream", s.stream, "session", s.id[:8])
}

// PeerConnection returns the session's PeerConnection.
func (s *Session) PeerConnection() *webrtc.PeerConnection { return s.pc }

// Context returns the session's context: it is done when the session
// ends, with the reason as its cause.
func (s *Session) Context() context.Context { return s.ctx }

// End ends the session for reason. It does not wait.
func (s *Session) End(reason string) { s.cancel(errors.New(reason)) }

// ConnectedAt returns when the peer connected (by Config.Now), or the
// zero time if it has not.
func (s *Session) ConnectedAt() time.Time {
	select {
	case <-s.connected:
		return s.connectedAt
	default:
		return time.Time{}
	}
}

// Go runs f as one of the session's workers, which the session waits for
// when it ends; f must return once the session's context is done or its
// PeerConnection closed. Go reports false, and does not run f, once the
// session has begun to clean up.
func (s *Session) Go(f func()) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// Hold counts a worker that is not a goroutine of its own, e.g. a viewer
// that a writer shared by many sessions serves: the session's clean-up
// waits for release (which must be called once) as it waits for the
// workers of Go, before Peer.Ended. Hold reports false, and holds
// nothing, once the session has begun to clean up.
func (s *Session) Hold() (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, false
	}
	s.wg.Add(1)
	var once sync.Once
	return func() { once.Do(s.wg.Done) }, true
}

// ApplyOffer sets the offer as the PeerConnection's remote description,
// with ErrBadSDP if pion refuses it. The session lets go of the offer's
// text then: pion keeps it parsed.
func (s *Session) ApplyOffer() error {
	offer := s.offer
	s.offer = ""
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fmt.Errorf("%s: %w: %v", s.srv.cfg.Name, ErrBadSDP, err)
	}
	return nil
}

// negotiate has the Peer apply the offer, then makes the answer and waits
// until it holds all of the server's candidates.
func (s *Session) negotiate(ctx context.Context) (string, error) {
	if err := s.peer.Negotiate(s); err != nil {
		return "", err
	}
	answer, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w: %v", s.srv.cfg.Name, ErrBadSDP, err)
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("%s: %w: %v", s.srv.cfg.Name, ErrBadSDP, err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-s.srv.ctx.Done():
		return "", ErrClosed
	}
	return s.pc.LocalDescription().SDP, nil
}

// onState follows the PeerConnection's state; pion calls it from a
// goroutine of its own for each change.
func (s *Session) onState(st webrtc.PeerConnectionState) {
	switch st {
	case webrtc.PeerConnectionStateConnected:
		first := false
		s.connectOnce.Do(func() {
			s.connectedAt = s.srv.cfg.Now()
			close(s.connected)
			first = true
		})
		if first && s.ctx.Err() == nil {
			if s.srv.cfg.Connected != nil {
				s.srv.cfg.Connected(s.pc)
			}
			if c, ok := s.peer.(ConnectedPeer); ok {
				c.Connected()
			}
		}
	case webrtc.PeerConnectionStateFailed:
		s.End("ICE or DTLS failed")
	case webrtc.PeerConnectionStateClosed:
		s.End("peer connection closed")
	}
}

// abort ends a session that was never listed, and cleans it up at once.
// started says Peer.Start succeeded, so its end is logged.
func (s *Session) abort(err error, started bool) {
	s.cancel(err)
	s.cleanUp()
	if started {
		s.logEnd()
	}
	close(s.done)
}

// cleanUp closes the PeerConnection, waits for the workers and has the
// Peer release what it holds.
func (s *Session) cleanUp() {
	s.pc.Close()
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.wg.Wait()
	s.peer.Ended()
}

// watch starts the life cycle of a listed session: the connect timeout,
// and its clean-up when it ends. The server's WaitGroup counts it until
// finish has run.
func (s *Session) watch() {
	s.connectBy = time.AfterFunc(s.srv.cfg.ConnectTimeout, func() {
		select {
		case <-s.connected:
		default:
			s.srv.timeouts.Add(1)
			s.End("peer did not connect in time")
		}
	})
	context.AfterFunc(s.ctx, s.finish)
}

// finish cleans up a listed session once its context is done, and
// forgets it.
func (s *Session) finish() {
	defer s.srv.wg.Done()
	s.connectBy.Stop()
	s.cleanUp()
	s.srv.mu.Lock()
	delete(s.srv.sessions, s.id)
	s.srv.mu.Unlock()
	s.logEnd()
	close(s.done)
}

func (s *Session) logEnd() {
	s.Logger().Info(s.srv.cfg.Name+" session ended", "reason", context.Cause(s.ctx).Error())
}
