package rtmp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liveloop/liveloop/flv"
	"github.com/liveloop/liveloop/flv/amf0"
	"github.com/liveloop/liveloop/media"
)

// Values the server announces after connect.
const (
	serverWindowAckSize = 2_500_000
	serverChunkSize     = 4096
	publishStreamID     = 1
)

// Reasons a session ends without an I/O error.
var (
	errUnpublished = errors.New("client ended the publication")
	errReplaced    = errors.New("hub ended the publication")
)

// SessionInfo describes one open session, for metrics and dashboards.
type SessionInfo struct {
	Remote     string
	Stream     string // empty until publishing
	Started    time.Time
	BytesIn    uint64
	MessagesIn uint64
	Demuxer    flv.DemuxerStats
}

// session is one RTMP connection. Its state is owned by the goroutine
// running run; the watcher goroutine only closes the connection.
type session struct {
	srv     *Server
	conn    net.Conn
	log     *slog.Logger
	started time.Time

	cr *ChunkReader
	cw *ChunkWriter

	bytesIn    atomic.Uint64
	messagesIn atomic.Uint64
	peerWindow uint32 // the peer's Window Acknowledgement Size; 0: none
	lastAck    uint64

	app      string
	nextID   uint32
	stream   atomic.Pointer[string]
	sink     media.Sink
	demux    atomic.Pointer[flv.Demuxer]
	sinkCh   chan media.Sink // hands the Sink to the watcher
	ended    atomic.Pointer[error]
	closeOne sync.Once
}

func newSession(srv *Server, conn net.Conn) *session {
	return &session{
		srv:     srv,
		conn:    conn,
		log:     srv.log.With("remote", conn.RemoteAddr().String()),
		started: time.Now(),
		nextID:  publishStreamID,
		sinkCh:  make(chan media.Sink, 1),
	}
}

func (s *session) info() SessionInfo {
	i := SessionInfo{
		Remote:     s.conn.RemoteAddr().String(),
		Started:    s.started,
		BytesIn:    s.bytesIn.Load(),
		MessagesIn: s.messagesIn.Load(),
	}
	if p := s.stream.Load(); p != nil {
		i.Stream = *p
	}
	if d := s.demux.Load(); d != nil {
		i.Demuxer = d.Stats()
	}
	return i
}

// countingReader counts the bytes read from the connection, for
// acknowledgements and metrics.
type countingReader struct {
	r io.Reader
	s *session
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.s.bytesIn.Add(uint64(n))
	c.s.srv.bytesIn.Add(uint64(n))
	return n, err
}

// deadlineWriter bounds each write, so a client that stops reading cannot
// block the session forever.
type deadlineWriter struct {
	conn    net.Conn
	timeout time.Duration
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.conn.Write(p)
}

// run serves the connection until it ends, then closes the Sink.
func (s *session) run(ctx context.Context) {
	stop := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() { s.watch(ctx, stop) })

	err := s.serve()

	close(stop)
	watcher.Wait()
	s.conn.Close()
	if s.sink != nil {
		s.sink.Close()
	}
	if p := s.ended.Load(); p != nil {
		err = *p
	}
	attrs := []any{"bytes", s.bytesIn.Load(), "messages", s.messagesIn.Load()}
	if d := s.demux.Load(); d != nil {
		st := d.Stats()
		attrs = append(attrs, "video_frames", st.VideoFrames, "audio_frames", st.AudioFrames,
			"dropped", st.Dropped, "malformed", st.Malformed, "unsupported", st.Unsupported)
	}
	switch {
	case errors.Is(err, errReplaced):
		s.log.Info("rtmp publisher disconnected: stream taken over or closed by the hub", attrs...)
	case err == nil || errors.Is(err, errUnpublished) || errors.Is(err, io.EOF):
		s.log.Info("rtmp session ended", attrs...)
	default:
		s.log.Info("rtmp session ended", append(attrs, "err", err)...)
	}
}

// watch closes the connection when the server stops or the hub ends the
// publication, which makes serve return.
func (s *session) watch(ctx context.Context, stop <-chan struct{}) {
	var sinkDone <-chan struct{}
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			s.end(context.Cause(ctx))
			return
		case sk := <-s.sinkCh:
			sinkDone = sk.Done()
		case <-sinkDone:
			s.end(errReplaced)
			return
		}
	}
}

func (s *session) end(reason error) {
	s.closeOne.Do(func() {
		s.ended.Store(&reason)
		s.conn.Close()
	})
}

func (s *session) serve() error {
	timeout := s.srv.cfg.ReadTimeout
	s.conn.SetDeadline(time.Now().Add(timeout))
	br := bufio.NewReaderSize(countingReader{r: s.conn, s: s}, 64<<10)
	rw := struct {
		io.Reader
		io.Writer
	}{br, s.conn}
	kind, err := ServerHandshake(rw, 0)
	if err != nil {
		return err
	}
	if kind == HandshakeDigest {
		s.srv.digest.Add(1)
	}
	s.cr = NewChunkReader(br)
	s.cw = NewChunkWriter(deadlineWriter{s.conn, timeout})
	for {
		s.conn.SetReadDeadline(time.Now().Add(timeout))
		m, err := s.cr.ReadMessage()
		if err != nil {
			return err
		}
		s.messagesIn.Add(1)
		s.srv.messagesIn.Add(1)
		if err := s.handle(m); err != nil {
			return err
		}
		if err := s.maybeAck(); err != nil {
			return err
		}
	}
}

// maybeAck sends an Acknowledgement each time the bytes received pass the
// peer's window (RTMP 5.4.3).
func (s *session) maybeAck() error {
	if s.peerWindow == 0 {
		return nil
	}
	n := s.bytesIn.Load()
	if n-s.lastAck < uint64(s.peerWindow) {
		return nil
	}
	s.lastAck = n
	return s.cw.WriteMessage(AcknowledgementMessage(uint32(n)))
}

func (s *session) handle(m *Message) error {
	switch m.Type {
	case TypeSetChunkSize, TypeAbort, TypeAcknowledgement, TypeSetPeerBandwidth:
		return nil // chunk size and abort are applied by the ChunkReader
	case TypeWindowAckSize:
		w, err := ParseU32(m.Payload)
		if err != nil {
			return err
		}
		s.peerWindow = w
		return nil
	case TypeUserControl:
		ev, v, err := ParseUserControl(m.Payload)
		if err != nil {
			return nil
		}
		if ev == EventPingRequest {
			return s.cw.WriteMessage(UserControlMessage(EventPingResponse, v))
		}
		return nil
	case TypeCommandAMF0:
		return s.command(m.StreamID, m.Payload)
	case TypeCommandAMF3:
		if len(m.Payload) == 0 {
			return nil
		}
		return s.command(m.StreamID, m.Payload[1:])
	case TypeAudio, TypeVideo, TypeDataAMF0:
		return s.media(m.Type, m.Timestamp, m.Payload)
	case TypeDataAMF3:
		if len(m.Payload) == 0 {
			return nil
		}
		return s.media(TypeDataAMF0, m.Timestamp, m.Payload[1:])
	case TypeAggregate:
		return s.aggregate(m)
	}
	return nil
}

func (s *session) media(typ uint8, ts uint32, payload []byte) error {
	d := s.demux.Load()
	if d == nil {
		return nil // not publishing (yet): ignore
	}
	return d.WriteTag(typ, ts, payload)
}

// aggregate unpacks an Aggregate message (RTMP 7.1.6): FLV tags whose
// timestamps are offset so that the first one has the message's timestamp.
func (s *session) aggregate(m *Message) error {
	r := flv.NewReader(bytes.NewReader(m.Payload))
	var base int64
	for i := 0; ; i++ {
		t, err := r.ReadTag()
		if err != nil {
			return nil
		}
		if i == 0 {
			base = int64(m.Timestamp) - int64(t.Timestamp)
		}
		if err := s.media(t.Type, uint32(int64(t.Timestamp)+base), t.Body); err != nil {
			return err
		}
	}
}

func (s *session) send(streamID uint32, name string, txn float64, obj any, args ...any) error {
	msg, err := Command{Name: name, TxnID: txn, Object: obj, Args: args}.Message(streamID)
	if err != nil {
		return err
	}
	return s.cw.WriteMessage(msg)
}

// command answers the NetConnection and NetStream commands of a publisher
// (RTMP 7.2.1, 7.2.2, and the FMS conventions releaseStream, FCPublish,
// FCUnpublish that encoders send).
func (s *session) command(streamID uint32, p []byte) error {
	c, err := ParseCommand(p)
	if err != nil {
		return nil // ignore what we cannot parse
	}
	switch c.Name {
	case "connect":
		return s.connect(c)
	case "releaseStream", "FCUnpublish":
		return s.reply(c, nil, amf0.Undefined{})
	case "FCPublish":
		name, _ := c.StringArg(0)
		if err := s.send(0, "onFCPublish", 0, nil, status("status", "NetStream.Publish.Start", name)); err != nil {
			return err
		}
		return s.reply(c, nil, amf0.Undefined{})
	case "createStream":
		id := s.nextID
		s.nextID++
		return s.reply(c, nil, float64(id))
	case "publish":
		return s.publish(streamID, c)
	case "deleteStream", "closeStream":
		if s.sink != nil {
			return errUnpublished
		}
		return nil
	case "_checkbw", "getStreamLength", "play", "play2", "receiveAudio", "receiveVideo", "pause", "seek":
	}
	if c.TxnID != 0 {
		return s.send(0, "_error", c.TxnID, nil,
			status("error", "NetConnection.Call.Failed", "Method not supported: "+c.Name))
	}
	return nil
}

func (s *session) reply(c Command, obj any, args ...any) error {
	if c.TxnID == 0 {
		return nil
	}
	return s.send(0, "_result", c.TxnID, obj, args...)
}

func (s *session) connect(c Command) error {
	props, _ := amf0.Properties(c.Object)
	app := amf0.Object(props).String("app")
	app, _, _ = strings.Cut(app, "?")
	s.app = strings.TrimSuffix(app, "/")
	encoding, _ := amf0.Object(props).Number("objectEncoding")

	for _, m := range []*Message{
		WindowAckSizeMessage(serverWindowAckSize),
		SetPeerBandwidthMessage(serverWindowAckSize, LimitDynamic),
		SetChunkSizeMessage(serverChunkSize),
	} {
		if err := s.cw.WriteMessage(m); err != nil {
			return err
		}
	}
	if err := s.cw.SetChunkSize(serverChunkSize); err != nil {
		return err
	}
	info := append(status("status", "NetConnection.Connect.Success", "Connection succeeded."),
		amf0.Property{Key: "objectEncoding", Value: encoding})
	return s.reply(c, amf0.Object{
		{Key: "fmsVer", Value: "FMS/3,5,7,7009"},
		{Key: "capabilities", Value: 31.0},
	}, info)
}

func (s *session) publish(streamID uint32, c Command) error {
	key, _ := c.StringArg(0)
	refuse := func(code, desc string, err error) error {
		s.srv.refused.Add(1)
		s.log.Info("rtmp publish refused", "app", s.app, "err", err)
		if werr := s.send(streamID, "onStatus", 0, nil, status("error", code, desc)); werr != nil {
			return werr
		}
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if s.sink != nil {
		return refuse("NetStream.Publish.BadName", "Already publishing.", errors.New("second publish"))
	}
	stream, err := s.srv.cfg.Authorize(s.app, key)
	if err != nil {
		return refuse("NetStream.Publish.Unauthorized", "Publishing refused.", err)
	}
	sink, err := s.srv.cfg.Publish(stream)
	if err != nil {
		return refuse("NetStream.Publish.BadName", "Stream not available.", err)
	}
	s.sink = sink
	s.sinkCh <- sink
	s.stream.Store(&stream)
	s.log = s.log.With("stream", stream)
	s.demux.Store(flv.NewDemuxer(sink, s.srv.cfg.Now))
	s.srv.published.Add(1)
	s.log.Info("rtmp publishing", "app", s.app)
	if err := s.cw.WriteMessage(UserControlMessage(EventStreamBegin, streamID)); err != nil {
		return err
	}
	return s.send(streamID, "onStatus", 0, nil, status("status", "NetStream.Publish.Start", "Publishing "+stream+"."))
}
