// Package websocket is a small RFC 6455 WebSocket implementation made for
// live media fan-out: a server writes each message from shared byte slices
// with one vectored write (no per-connection copy of the payload), and reads
// the client's small control messages with a bounded size.
//
// It implements what browsers use: the opening handshake (section 4.2),
// unfragmented server messages, fragmented and masked client messages, ping,
// pong and the closing handshake. No extensions, no subprotocols.
package websocket

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Close codes, RFC 6455 7.4.1.
const (
	CloseNormal         = 1000
	CloseGoingAway      = 1001
	CloseProtocolError  = 1002
	CloseMessageTooBig  = 1009
	CloseInternalError  = 1011
	closeNoStatus       = 1005
	handshakeGUID       = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	defaultMaxMessage   = 64 << 10
	defaultWriteTimeout = 10 * time.Second
	defaultMaxQueued    = 64
)

// ErrClosed is returned by reads and writes after the connection closed.
var ErrClosed = errors.New("websocket: connection closed")

// CloseError reports a close frame received from the peer.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("websocket: closed by peer: %d %s", e.Code, e.Reason)
}

// Options tune a server connection.
type Options struct {
	// MaxMessage bounds a message read from the client; default 64 KiB.
	MaxMessage int
	// WriteTimeout bounds each write; a client that does not take the
	// bytes in time is disconnected. Default 10 s.
	WriteTimeout time.Duration
	// MaxQueued bounds the frames Send keeps for a client that does not
	// take them at once; default 64.
	MaxQueued int
}

// Conn is a server-side WebSocket connection. Writes may come from several
// goroutines; reads from one.
type Conn struct {
	nc  net.Conn
	br  *bufio.Reader
	opt Options

	client bool // masks writes, expects unmasked reads

	raw syscall.RawConn // nc's descriptor for Send's non-blocking writes; nil: Send queues
	// tryWrite's call through raw, made once (a closure made per write
	// costs three allocations), and its argument and results: the
	// writer's, who has the turn.
	rawWrite func(fd uintptr)
	rwBuf    []byte
	rwN      int
	rwErr    error

	// Writing (see send.go): wmu guards the fields below; the goroutine
	// that set writing does the connection's I/O without holding wmu, and
	// others wait on wcond (blocking writes) or queue (Send).
	wmu      sync.Mutex
	wcond    sync.Cond
	writing  bool
	closed   bool
	closeMsg []byte        // a close frame to send when the writer is done
	queue    [][]byte      // frames Send could not write at once, in order; the first may be a remainder
	queued   int           // bytes in queue
	pending  chan struct{} // signalled when queue needs a Flush
	deadline time.Time     // the write deadline set on nc (the writer's)
	hdr      [MaxHeaderLen]byte
	bufs     net.Buffers

	rhdr [MaxHeaderLen]byte
}

// Upgrade answers a WebSocket opening handshake and takes over the
// connection.
func Upgrade(w http.ResponseWriter, r *http.Request, opt Options) (*Conn, error) {
	if r.Method != http.MethodGet ||
		!headerHas(r.Header, "Connection", "upgrade") ||
		!headerHas(r.Header, "Upgrade", "websocket") {
		http.Error(w, "websocket upgrade required", http.StatusUpgradeRequired)
		return nil, ErrNotUpgraded
	}
	if r.Header.Get("Sec-Websocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "unsupported websocket version", http.StatusBadRequest)
		return nil, fmt.Errorf("%w: version %q", ErrNotUpgraded, r.Header.Get("Sec-Websocket-Version"))
	}
	key := r.Header.Get("Sec-Websocket-Key")
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		http.Error(w, "bad Sec-WebSocket-Key", http.StatusBadRequest)
		return nil, fmt.Errorf("%w: bad key", ErrNotUpgraded)
	}
	rc := http.NewResponseController(w)
	nc, brw, err := rc.Hijack()
	if err != nil {
		http.Error(w, "cannot upgrade", http.StatusInternalServerError)
		return nil, fmt.Errorf("websocket: hijack: %w", err)
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = defaultWriteTimeout
	}
	_ = nc.SetDeadline(withoutDeadline)
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		AcceptKey(key) + "\r\n\r\n"
	_ = nc.SetWriteDeadline(time.Now().Add(opt.WriteTimeout))
	if _, err := io.WriteString(nc, resp); err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: handshake: %w", err)
	}
	br := brw.Reader
	if br.Buffered() == 0 {
		// Drop the server's 4 KiB read buffer for a small one: a player
		// only sends pings.
		br = bufio.NewReaderSize(nc, 512)
	}
	return newConn(nc, br, opt, false), nil
}

func newConn(nc net.Conn, br *bufio.Reader, opt Options, client bool) *Conn {
	if opt.MaxMessage <= 0 {
		opt.MaxMessage = defaultMaxMessage
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = defaultWriteTimeout
	}
	if opt.MaxQueued <= 0 {
		opt.MaxQueued = defaultMaxQueued
	}
	c := &Conn{nc: nc, br: br, opt: opt, client: client, pending: make(chan struct{}, 1)}
	c.wcond.L = &c.wmu
	if sc, ok := nc.(syscall.Conn); ok && !client {
		c.raw, _ = sc.SyscallConn()
		c.rawWrite = func(fd uintptr) { c.rwN, c.rwErr = writeNow(fd, c.rwBuf) }
	}
	return c
}

// AcceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + handshakeGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// WriteText sends one text message.
func (c *Conn) WriteText(b []byte) error { return c.write(OpText, b) }

// WriteBinary sends one binary message made of the concatenation of parts,
// with a single vectored write. The parts are not copied or modified, so
// they may be shared with other connections.
func (c *Conn) WriteBinary(parts ...[]byte) error { return c.write(OpBinary, parts...) }

// ReadMessage reads the next data message, answering pings and the closing
// handshake on the way. It returns the opcode (OpText or OpBinary) and the
// unmasked payload, or a *CloseError when the peer closed.
func (c *Conn) ReadMessage() (byte, []byte, error) { return c.ReadMessageInto(nil) }

// ReadMessageInto is ReadMessage reading into buf's storage when it has
// room (a reader that is done with each message before the next reuses
// it, and allocates nothing per message).
func (c *Conn) ReadMessageInto(buf []byte) (byte, []byte, error) {
	var (
		msg    = buf[:0]
		msgOp  byte
		inData bool
	)
	for {
		h, err := c.readHeader()
		if err != nil {
			return 0, nil, err
		}
		if h.Masked == c.client {
			c.Close(CloseProtocolError, "bad masking")
			return 0, nil, fmt.Errorf("%w: frame masking is wrong for its direction", ErrProtocol)
		}
		if h.Opcode >= OpClose {
			payload := make([]byte, h.Length)
			if _, err := io.ReadFull(c.br, payload); err != nil {
				return 0, nil, err
			}
			if h.Masked {
				MaskBytes(h.Mask, 0, payload)
			}
			switch h.Opcode {
			case OpPing:
				if err := c.write(OpPong, payload); err != nil {
					return 0, nil, err
				}
			case OpClose:
				ce := &CloseError{Code: closeNoStatus}
				if len(payload) >= 2 {
					ce.Code = int(binary.BigEndian.Uint16(payload))
					ce.Reason = string(payload[2:])
				}
				c.Close(CloseNormal, "")
				return 0, nil, ce
			}
			continue
		}
		switch {
		case h.Opcode == OpContinuation && !inData:
			c.Close(CloseProtocolError, "unexpected continuation")
			return 0, nil, fmt.Errorf("%w: continuation without a message", ErrProtocol)
		case h.Opcode != OpContinuation && inData:
			c.Close(CloseProtocolError, "expected continuation")
			return 0, nil, fmt.Errorf("%w: new message inside a fragmented one", ErrProtocol)
		case h.Opcode != OpContinuation:
			msgOp, inData = h.Opcode, true
		}
		if uint64(len(msg))+h.Length > uint64(c.opt.MaxMessage) {
			c.Close(CloseMessageTooBig, "message too large")
			return 0, nil, ErrTooLarge
		}
		start := len(msg)
		msg = append(msg, make([]byte, h.Length)...)
		if _, err := io.ReadFull(c.br, msg[start:]); err != nil {
			return 0, nil, err
		}
		if h.Masked {
			MaskBytes(h.Mask, 0, msg[start:])
		}
		if h.Fin {
			return msgOp, msg, nil
		}
	}
}

func (c *Conn) readHeader() (Header, error) {
	if _, err := io.ReadFull(c.br, c.rhdr[:2]); err != nil {
		return Header{}, err
	}
	n := 2
	for {
		h, _, err := ParseHeader(c.rhdr[:n])
		if err == nil {
			return h, nil
		}
		if !errors.Is(err, ErrNeedMore) {
			c.Close(CloseProtocolError, "bad frame")
			return h, err
		}
		want := needed(c.rhdr[:2])
		if _, err := io.ReadFull(c.br, c.rhdr[n:want]); err != nil {
			return Header{}, err
		}
		n = want
	}
}

// frame returns a whole frame as parts, masked when c is a client.
func (c *Conn) frame(op byte, payload []byte) [][]byte {
	if c.client {
		var hdr [MaxHeaderLen]byte
		return maskedCopy(&hdr, op, len(payload), [][]byte{payload})
	}
	return [][]byte{AppendHeader(nil, op, len(payload)), payload}
}

// maskedCopy returns a masked client frame: header, then a masked copy of
// the payload parts (a client's payloads are small control messages).
func maskedCopy(hdr *[MaxHeaderLen]byte, op byte, n int, parts [][]byte) [][]byte {
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	payload := make([]byte, 0, n)
	for _, p := range parts {
		payload = append(payload, p...)
	}
	MaskBytes(mask, 0, payload)
	return [][]byte{AppendMaskedHeader(hdr[:0], op, n, mask), payload}
}

var withoutDeadline time.Time

// maxKeptParts bounds the capacity of the part list a connection keeps
// between writes.
const maxKeptParts = 80

// needed returns the full header length announced by a header's first two
// bytes.
func needed(b []byte) int {
	n := 2
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return n
}
