package websocket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Writing. One goroutine at a time does a connection's I/O: the one that
// set c.writing under c.wmu, which it then releases for the I/O. There are
// two ways in:
//
//   - blocking writes (WriteText, WriteBinary, Flush, pongs): wait for
//     the turn, write what Send queued, then their own message, with the
//     write deadline; they may block for up to WriteTimeout;
//   - Send, which never blocks: it writes a prepared frame with one
//     non-blocking write(2) when the connection is idle, and otherwise
//     (another write in progress, frames already queued, or the socket
//     took only part of it) queues the frame, or what is left of it, and
//     signals Pending. The connection's owner answers Pending with Flush.
//
// Send is what a fan-out worker calls for thousands of connections in a
// row: a client that does not read holds up nobody but itself, and a
// delivery costs one system call and no goroutine switch.

// ErrQueueFull is returned by Send when MaxQueued frames are already
// waiting for the client: it does not read fast enough.
var ErrQueueFull = errors.New("websocket: send queue full")

// AppendFrame appends a whole unmasked server frame (header and payload)
// of the given opcode: what Send takes.
func AppendFrame(dst []byte, opcode byte, payload []byte) []byte {
	dst = AppendHeader(dst, opcode, len(payload))
	return append(dst, payload...)
}

// Send writes frame, a whole server frame made by AppendFrame, without
// blocking. frame is not modified and may be shared with other
// connections, but must not change until it is written. It returns
// ErrQueueFull when MaxQueued frames wait already (the frame is dropped),
// ErrClosed after the connection closed. A connection used with Send must
// have a goroutine that calls Flush when Pending is ready.
func (c *Conn) Send(frame []byte) error {
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return ErrClosed
	}
	if c.writing || len(c.queue) > 0 || c.raw == nil {
		if len(c.queue) >= c.opt.MaxQueued {
			c.wmu.Unlock()
			return ErrQueueFull
		}
		c.queue = append(c.queue, frame)
		c.queued += len(frame)
		idle := !c.writing
		c.wmu.Unlock()
		if idle {
			c.signal()
		}
		return nil
	}
	c.writing = true
	c.wmu.Unlock()

	n, err := c.tryWrite(frame)

	c.wmu.Lock()
	if err == nil && n < len(frame) {
		// The rest goes first, before anything queued meanwhile.
		c.queue = append(c.queue, nil)
		copy(c.queue[1:], c.queue)
		c.queue[0] = frame[n:]
		c.queued += len(frame) - n
	}
	flush := len(c.queue) > 0
	c.release(err)
	c.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("websocket: write: %w", err)
	}
	if flush {
		c.signal()
	}
	return nil
}

// Pending is signalled when frames Send queued wait for Flush.
func (c *Conn) Pending() <-chan struct{} { return c.pending }

// Flush writes the frames Send queued, blocking for up to WriteTimeout
// each.
func (c *Conn) Flush() error { return c.write(0, nil) }

// Queued returns the frames and bytes waiting for Flush.
func (c *Conn) Queued() (frames, bytes int) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return len(c.queue), c.queued
}

func (c *Conn) signal() {
	select {
	case c.pending <- struct{}{}:
	default:
	}
}

// tryWrite makes one non-blocking write(2) of b: it returns how much the
// socket took (0 when it would block). It goes through Control, not the
// RawConn's Write: the caller has the turn, so no other write can be in
// progress, and a write deadline a blocking write left behind does not
// apply to a write that cannot block.
func (c *Conn) tryWrite(b []byte) (n int, err error) {
	c.rwBuf, c.rwN, c.rwErr = b, 0, nil
	cerr := c.raw.Control(c.rawWrite)
	n, err = c.rwN, c.rwErr
	c.rwBuf, c.rwErr = nil, nil
	if cerr != nil {
		return 0, cerr
	}
	return n, err
}

// release ends the caller's turn at the I/O (c.wmu held): on an error the
// connection closes, and a Close that came during the turn is carried
// out.
func (c *Conn) release(err error) {
	c.writing = false
	c.wcond.Broadcast()
	switch {
	case err != nil:
		c.closed = true
		c.closeMsg = nil
		c.queue, c.queued = nil, 0
		c.nc.Close()
	case c.closed && c.closeMsg != nil:
		// Best effort, as Close: what fits in the socket now.
		if c.raw != nil {
			_, _ = c.tryWrite(c.closeMsg)
		} else {
			_, _ = c.nc.Write(c.closeMsg)
		}
		c.closeMsg = nil
		c.queue, c.queued = nil, 0
		c.nc.Close()
	}
}

// write sends one message of opcode op made of the concatenation of parts
// (op 0: none), after what Send queued, waiting for the turn and then
// for the socket.
func (c *Conn) write(op byte, parts ...[]byte) error {
	c.wmu.Lock()
	for c.writing && !c.closed {
		c.wcond.Wait()
	}
	if c.closed {
		c.wmu.Unlock()
		return ErrClosed
	}
	c.writing = true
	c.wmu.Unlock()

	var err error
	if op != 0 {
		err = c.drainAndWrite(c.frameParts(op, parts))
	} else {
		err = c.drainAndWrite(nil)
	}

	c.wmu.Lock()
	c.release(err)
	c.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("websocket: write: %w", err)
	}
	return nil
}

// drainAndWrite writes what is queued, then parts, then what was queued
// meanwhile, until the queue is empty (the caller has the turn).
func (c *Conn) drainAndWrite(parts [][]byte) error {
	for {
		c.wmu.Lock()
		q := c.queue
		c.queue, c.queued = nil, 0
		if len(q) == 0 && parts == nil {
			c.wmu.Unlock()
			return nil
		}
		c.wmu.Unlock()
		c.bufs = append(c.bufs[:0], q...)
		c.bufs = append(c.bufs, parts...)
		parts = nil
		// The deadline is refreshed at most once a second: it stays
		// between WriteTimeout-1s and WriteTimeout ahead, and a write
		// costs no timer update.
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
			return err
		}
	}
}

// frameParts returns a message's frame as parts: the header (in c.hdr) and
// the payload parts, or a masked copy when c is a client.
func (c *Conn) frameParts(op byte, parts [][]byte) [][]byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if c.client {
		return maskedCopy(&c.hdr, op, n, parts)
	}
	out := make([][]byte, 0, 1+len(parts))
	out = append(out, AppendHeader(c.hdr[:0], op, n))
	for _, p := range parts {
		if len(p) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// Close sends a close frame with code and reason (best effort) and closes
// the connection. If a write is in progress, its writer closes the
// connection when it is done, which the write deadline brings within a
// second.
func (c *Conn) Close(code int, reason string) error {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	payload := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	payload = append(payload, reason...)
	var frame []byte
	for _, p := range c.frame(OpClose, payload) {
		frame = append(frame, p...)
	}
	c.wmu.Lock()
	if c.closed {
		c.wmu.Unlock()
		return nil
	}
	c.closed = true
	c.wcond.Broadcast()
	if c.writing {
		c.closeMsg = frame
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		c.wmu.Unlock()
		return nil
	}
	// Take the turn (writers and Send see closed and give up at once).
	c.writing = true
	c.queue, c.queued = nil, 0
	c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.nc.Write(frame)
	err := c.nc.Close()
	c.wmu.Lock()
	c.writing = false
	c.wcond.Broadcast()
	c.wmu.Unlock()
	return err
}
