package rtmp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/liveloop/liveloop/flv"
	"github.com/liveloop/liveloop/flv/amf0"
)

// DefaultPort is the RTMP port used when a URL has none.
const DefaultPort = "1935"

// Client is a minimal RTMP publisher: plain handshake, connect, publish,
// then audio, video and metadata messages. It exists for tools and tests.
//
// Life cycle: Dial connects; Publish starts the publication and a goroutine
// that reads what the server sends (answering pings) until the connection
// ends; Close ends the publication, closes the connection and waits for
// that goroutine. WriteTag and WriteMetadata may be called from one
// goroutine at a time.
type Client struct {
	conn     net.Conn
	br       *bufio.Reader
	cr       *ChunkReader
	app      string
	name     string
	tcURL    string
	streamID uint32
	txn      float64

	wmu sync.Mutex // guards cw
	cw  *ChunkWriter

	done     chan struct{}
	readErr  error
	reading  sync.WaitGroup
	closeOne sync.Once
}

// Dial connects to url (rtmp://host[:port]/app/name[?query]), performs the
// handshake and sends connect.
func Dial(ctx context.Context, rawURL string) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("rtmp: %w", err)
	}
	if u.Scheme != "rtmp" {
		return nil, fmt.Errorf("rtmp: unsupported scheme %q", u.Scheme)
	}
	app, name, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if u.RawQuery != "" {
		name += "?" + u.RawQuery
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), DefaultPort)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("rtmp: %w", err)
	}
	c := &Client{
		conn:  conn,
		br:    bufio.NewReader(conn),
		app:   app,
		name:  name,
		tcURL: "rtmp://" + u.Host + "/" + app,
		done:  make(chan struct{}),
	}
	err = c.during(ctx, func() error {
		if err := ClientHandshake(struct {
			io.Reader
			io.Writer
		}{c.br, conn}, 0); err != nil {
			return err
		}
		c.cr = NewChunkReader(c.br)
		c.cw = NewChunkWriter(conn)
		if err := c.cw.WriteMessage(SetChunkSizeMessage(serverChunkSize)); err != nil {
			return err
		}
		if err := c.cw.SetChunkSize(serverChunkSize); err != nil {
			return err
		}
		res, err := c.call(0, "connect", amf0.Object{
			{Key: "app", Value: app},
			{Key: "type", Value: "nonprivate"},
			{Key: "flashVer", Value: "FMLE/3.0 (compatible; liveloop)"},
			{Key: "tcUrl", Value: c.tcURL},
		})
		if err != nil {
			return err
		}
		if res.Name != "_result" {
			return fmt.Errorf("%w: connect: %s %s", ErrRefused, res.Name, infoCode(res))
		}
		return nil
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// during runs f with the connection's deadline tied to ctx.
func (c *Client) during(ctx context.Context, f func() error) error {
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	err := f()
	if !stop() {
		err = errors.Join(err, ctx.Err())
	}
	c.conn.SetDeadline(time.Time{})
	return err
}

// call sends a command and reads messages until its _result or _error.
func (c *Client) call(streamID uint32, name string, obj any, args ...any) (Command, error) {
	c.txn++
	txn := c.txn
	if err := c.send(streamID, Command{Name: name, TxnID: txn, Object: obj, Args: args}); err != nil {
		return Command{}, err
	}
	return c.await(func(r Command) bool {
		return (r.Name == "_result" || r.Name == "_error") && r.TxnID == txn
	})
}

func (c *Client) send(streamID uint32, cmd Command) error {
	m, err := cmd.Message(streamID)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.cw.WriteMessage(m)
}

// await reads messages until a command matches.
func (c *Client) await(match func(Command) bool) (Command, error) {
	for {
		m, err := c.cr.ReadMessage()
		if err != nil {
			return Command{}, fmt.Errorf("rtmp: %w", err)
		}
		if err := c.control(m); err != nil {
			return Command{}, err
		}
		if m.Type != TypeCommandAMF0 {
			continue
		}
		cmd, err := ParseCommand(m.Payload)
		if err == nil && match(cmd) {
			return cmd, nil
		}
	}
}

// control answers the server's pings.
func (c *Client) control(m *Message) error {
	if m.Type != TypeUserControl {
		return nil
	}
	ev, v, err := ParseUserControl(m.Payload)
	if err != nil || ev != EventPingRequest {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.cw.WriteMessage(UserControlMessage(EventPingResponse, v))
}

func infoCode(c Command) string {
	for _, a := range c.Args {
		if ps, ok := amf0.Properties(a); ok {
			return amf0.Object(ps).String("code")
		}
	}
	return ""
}

// Publish announces the publication (releaseStream, FCPublish,
// createStream, publish) and waits for NetStream.Publish.Start. A refusal
// returns an error wrapping ErrRefused that includes the status code.
func (c *Client) Publish(ctx context.Context) error {
	err := c.during(ctx, func() error {
		c.txn++
		if err := c.send(0, Command{Name: "releaseStream", TxnID: c.txn, Args: []any{c.name}}); err != nil {
			return err
		}
		c.txn++
		if err := c.send(0, Command{Name: "FCPublish", TxnID: c.txn, Args: []any{c.name}}); err != nil {
			return err
		}
		res, err := c.call(0, "createStream", nil)
		if err != nil {
			return err
		}
		id, ok := firstNumber(res.Args)
		if res.Name != "_result" || !ok {
			return fmt.Errorf("%w: createStream: %s", ErrRefused, res.Name)
		}
		c.streamID = uint32(id)
		if err := c.send(c.streamID, Command{Name: "publish", Args: []any{c.name, "live"}}); err != nil {
			return err
		}
		st, err := c.await(func(r Command) bool { return r.Name == "onStatus" })
		if err != nil {
			return err
		}
		if code := infoCode(st); code != "NetStream.Publish.Start" {
			return fmt.Errorf("%w: %s", ErrRefused, code)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.reading.Go(c.readLoop)
	return nil
}

func firstNumber(vs []any) (float64, bool) {
	for _, v := range vs {
		if f, ok := v.(float64); ok {
			return f, true
		}
	}
	return 0, false
}

// readLoop consumes what the server sends while publishing.
func (c *Client) readLoop() {
	defer close(c.done)
	for {
		m, err := c.cr.ReadMessage()
		if err != nil {
			c.readErr = err
			return
		}
		if err := c.control(m); err != nil {
			c.readErr = err
			return
		}
	}
}

// Done is closed when the server ends the connection after Publish.
func (c *Client) Done() <-chan struct{} { return c.done }

// WriteTag sends an FLV tag body as an audio (8), video (9) or data (18)
// message on the published stream.
func (c *Client) WriteTag(tagType uint8, timestamp uint32, body []byte) error {
	csid := csidData
	switch tagType {
	case flv.TagAudio:
		csid = csidAudio
	case flv.TagVideo:
		csid = csidVideo
	case flv.TagScript:
	default:
		return fmt.Errorf("rtmp: tag type %d", tagType)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.cw.WriteMessage(&Message{Type: tagType, Timestamp: timestamp, StreamID: c.streamID, CSID: csid, Payload: body})
}

// WriteMetadata sends @setDataFrame onMetaData with the given properties
// (e.g. width, height, videocodecid 7, audiocodecid 10).
func (c *Client) WriteMetadata(props amf0.ECMAArray) error {
	p, err := amf0.Encode("@setDataFrame", "onMetaData", props)
	if err != nil {
		return err
	}
	return c.WriteTag(flv.TagScript, 0, p)
}

// Close ends the publication (FCUnpublish, deleteStream), closes the
// connection and waits for the reading goroutine.
func (c *Client) Close() error {
	var err error
	c.closeOne.Do(func() {
		if c.streamID != 0 {
			c.conn.SetWriteDeadline(time.Now().Add(time.Second))
			c.send(0, Command{Name: "FCUnpublish", Args: []any{c.name}})
			c.send(0, Command{Name: "deleteStream", Args: []any{float64(c.streamID)}})
		}
		err = c.conn.Close()
		c.reading.Wait()
	})
	return err
}
