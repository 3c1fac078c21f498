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
}

// Conn is a server-side WebSocket connection. Writes may come from several
// goroutines; reads from one.
type Conn struct {
	nc  net.Conn
	br  *bufio.Reader
	opt Options

	client bool // masks writes, expects unmasked reads

	deadline time.Time // the write deadline set on nc, guarded by wmu

	wmu    sync.Mutex
	hdr    [MaxHeaderLen]byte
	bufs   net.Buffers
	closed bool

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
	if opt.MaxMessage <= 0 {
		opt.MaxMessage = defaultMaxMessage
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
	return &Conn{nc: nc, br: br, opt: opt}, nil
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

func (c *Conn) write(op byte, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.client {
		parts = maskedCopy(&c.hdr, op, n, parts)
		c.bufs = c.bufs[:0]
	} else {
		c.bufs = append(c.bufs[:0], AppendHeader(c.hdr[:0], op, n))
	}
	for _, p := range parts {
		if len(p) > 0 {
			c.bufs = append(c.bufs, p)
		}
	}
	// The deadline is refreshed at most once a second: it stays between
	// WriteTimeout-1s and WriteTimeout ahead, and a write costs no timer
	// update.
	if now := time.Now(); c.deadline.Sub(now) < c.opt.WriteTimeout-time.Second {
		c.deadline = now.Add(c.opt.WriteTimeout)
		_ = c.nc.SetWriteDeadline(c.deadline)
	}
	bufs := c.bufs // WriteTo consumes its receiver
	_, err := bufs.WriteTo(c.nc)
	clear(c.bufs[:cap(c.bufs)])
	c.bufs = c.bufs[:0]
	if cap(c.bufs) > maxKeptParts {
		c.bufs = nil // an unusually long message: do not keep its list
	}
	if err != nil {
		c.closed = true
		c.nc.Close()
		return fmt.Errorf("websocket: write: %w", err)
	}
	return nil
}

// Close sends a close frame with code and reason (best effort) and closes
// the connection.
func (c *Conn) Close(code int, reason string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if len(reason) > 123 {
		reason = reason[:123]
	}
	payload := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	payload = append(payload, reason...)
	var frame []byte
	for _, p := range c.frame(OpClose, payload) {
		frame = append(frame, p...)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.nc.Write(frame)
	return c.nc.Close()
}

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
