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
// Peer, and the workers the Peer starts. Its context ends it; its
// supervisor goroutine then closes the PeerConnection, waits for the
// workers, calls Peer.Ended and forgets the session.
type Session struct {
	srv    *Server
	peer   Peer
	id     string
	stream string
	offer  string
	log    *slog.Logger
	pc     *webrtc.PeerConnection

	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the session is over and cleaned up

	connectOnce sync.Once
	connected   chan struct{}
	connectedAt time.Time // set before connected closes

	mu      sync.Mutex // guards closing against Go
	closing bool
	wg      sync.WaitGroup // the workers
}

// ID returns the session's ID, the last element of its resource URL.
func (s *Session) ID() string { return s.id }

// Stream returns the name of the session's stream.
func (s *Session) Stream() string { return s.stream }

// Logger returns the session's logger (with stream and session).
func (s *Session) Logger() *slog.Logger { return s.log }

// PeerConnection returns the session's PeerConnection.
func (s *Session) PeerConnection() *webrtc.PeerConnection { return s.pc }

// Context returns the session's context: it is done when the session
// ends, with the reason as its cause.
func (s *Session) Context() context.Context { return s.ctx }

// End ends the session for reason. It does not wait.
func (s *Session) End(reason string) { s.cancel(errors.New(reason)) }

// Connected is closed when the peer has connected (ICE and DTLS).
func (s *Session) Connected() <-chan struct{} { return s.connected }

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

// WaitConnected waits until the peer connects (true) or the session ends
// (false).
func (s *Session) WaitConnected() bool {
	select {
	case <-s.connected:
		return true
	case <-s.ctx.Done():
		return false
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

// ApplyOffer sets the offer as the PeerConnection's remote description,
// with ErrBadSDP if pion refuses it.
func (s *Session) ApplyOffer() error {
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: s.offer}); err != nil {
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

func (s *Session) onState(st webrtc.PeerConnectionState) {
	switch st {
	case webrtc.PeerConnectionStateConnected:
		s.connectOnce.Do(func() {
			s.connectedAt = s.srv.cfg.Now()
			close(s.connected)
		})
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
		s.log.Info(s.srv.cfg.Name+" session ended", "reason", context.Cause(s.ctx).Error())
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

// supervise ends the session if the peer does not connect in time, and
// cleans it up when it ends.
func (s *Session) supervise() {
	defer s.srv.wg.Done()
	t := time.NewTimer(s.srv.cfg.ConnectTimeout)
	select {
	case <-s.connected:
		if s.srv.cfg.Connected != nil {
			s.srv.cfg.Connected(s.pc)
		}
	case <-t.C:
		s.srv.timeouts.Add(1)
		s.End("peer did not connect in time")
	case <-s.ctx.Done():
	}
	t.Stop()
	<-s.ctx.Done()
	s.cleanUp()
	s.srv.mu.Lock()
	delete(s.srv.sessions, s.id)
	s.srv.mu.Unlock()
	s.log.Info(s.srv.cfg.Name+" session ended", "reason", context.Cause(s.ctx).Error())
	close(s.done)
}
