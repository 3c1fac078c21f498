package websocket

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
)

// Dial opens a client connection to a ws:// URL. Liveloop's load tool and
// tests use it; the connection masks what it writes, as clients must.
func Dial(ctx context.Context, rawURL string, opt Options) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("websocket: %w", err)
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("websocket: unsupported scheme %q", u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("websocket: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: %w", err)
	}
	br := bufio.NewReaderSize(nc, 32<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: handshake: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
		resp.Header.Get("Sec-Websocket-Accept") != AcceptKey(key) {
		nc.Close()
		return nil, fmt.Errorf("websocket: handshake refused: %s", resp.Status)
	}
	_ = nc.SetDeadline(withoutDeadline)
	if opt.MaxMessage <= 0 {
		opt.MaxMessage = 16 << 20
	}
	return newConn(nc, br, opt, true), nil
}

// Detach takes the connection out of the Go runtime's hands for a caller
// that polls many connections itself (the load tool's readers): it
// returns a non-blocking duplicate of the socket's descriptor and the
// bytes already read from it but not yet taken, and closes the Conn
// without a closing handshake (the socket stays open through the
// duplicate, which the caller closes). The Conn must not be used after.
func (c *Conn) Detach() (fd int, buffered []byte, err error) {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return -1, nil, errors.New("websocket: not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, nil, err
	}
	fd = -1
	cerr := raw.Control(func(s uintptr) {
		fd, err = dupSocket(s)
	})
	if cerr != nil {
		return -1, nil, cerr
	}
	if err != nil {
		return -1, nil, err
	}
	if n := c.br.Buffered(); n > 0 {
		buffered, _ = c.br.Peek(n)
		buffered = append([]byte(nil), buffered...)
	}
	c.wmu.Lock()
	c.closed = true
	c.wcond.Broadcast()
	c.wmu.Unlock()
	c.nc.Close()
	return fd, buffered, nil
}
