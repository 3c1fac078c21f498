package loadtest

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/liveloop/liveloop/websocket"
)

// The room mode's readers on Linux. 10,000 viewer channels read by a
// goroutine each cost the tool a goroutine switch, a netpoll round and two
// read(2)s (the message, then EAGAIN) per delivery, on the two cores the
// server runs on. Instead, once a client has its snapshot, its socket
// leaves the Go runtime (websocket.Conn.Detach) for an edge-triggered
// epoll set of one of a few poller goroutines (one per CPU), which read
// each ready socket until a short read and time each message when the
// read that completed it returns. The rate drivers write commands to the
// socket directly.

// roomPoller is one reader goroutine's epoll set.
type roomPoller struct {
	epfd    int
	clients []atomic.Pointer[roomClient] // by client index
	buf     []byte
}

// roomPollers are the audience's readers; close stops them.
type roomPollers struct {
	ps   []*roomPoller
	stop atomic.Bool
	wg   sync.WaitGroup
	mu   sync.Mutex
	fds  []int // the detached sockets, closed by close
}

func (rp *roomPollers) addFD(fd int) {
	rp.mu.Lock()
	rp.fds = append(rp.fds, fd)
	rp.mu.Unlock()
}

func newRoomPollers(n int, now func() time.Time) (*roomPollers, error) {
	rp := &roomPollers{}
	for range runtime.GOMAXPROCS(0) {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			rp.close()
			return nil, err
		}
		p := &roomPoller{epfd: fd, clients: make([]atomic.Pointer[roomClient], n), buf: make([]byte, 64<<10)}
		rp.ps = append(rp.ps, p)
		rp.wg.Go(func() { p.run(&rp.stop, now) })
	}
	return rp, nil
}

func (rp *roomPollers) close() {
	rp.stop.Store(true)
	rp.wg.Wait()
	for _, p := range rp.ps {
		syscall.Close(p.epfd)
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	for _, fd := range rp.fds {
		syscall.Close(fd)
	}
	rp.fds = nil
}

// pollPause is how long a poller that has drained its ready sockets
// waits before it looks again, while a burst lasts. A poller blocked in
// epoll_wait is woken by the sender's kernel for every message (on
// loopback, in the server's write, on the cores it measures: a
// cross-CPU wake-up each); one that pauses takes the next millisecond's
// messages in one round, at the price of reading each up to pollPause
// later (the latency measured can only grow by it).
const pollPause = time.Millisecond

// run waits for ready sockets until stop is set (checked every 100 ms).
func (p *roomPoller) run(stop *atomic.Bool, now func() time.Time) {
	evs := make([]syscall.EpollEvent, 256)
	wait := 0 // ms: 0 while a burst lasts, else block
	for !stop.Load() {
		var n int
		var err error
		if wait == 0 {
			n, err = rawEpollPoll(p.epfd, evs)
		} else {
			n, err = syscall.EpollWait(p.epfd, evs, wait)
		}
		if err != nil {
			continue // EINTR
		}
		if n == 0 {
			wait = 100
			continue
		}
		for _, ev := range evs[:n] {
			if c := p.clients[ev.Fd].Load(); c != nil {
				c.readReady(p.buf, now)
			}
		}
		wait = 0
		if n < len(evs) {
			time.Sleep(pollPause)
		}
	}
}

// rawRead, rawWrite and rawEpollPoll are read(2), write(2) and
// epoll_wait(2) with a timeout of 0 on non-blocking descriptors, made
// without telling the Go scheduler: they cannot block. Through package
// syscall the runtime marks the P as in a system call, and while every P
// is busy (a fan-out of 10,000 messages) sysmon wakes every 20 µs and
// hands a P whose call spans two of its wake-ups to another thread: perf
// showed sysmon at 11% of the tool's CPU, on the cores it measures.
func rawRead(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawEpollPoll(epfd int, evs []syscall.EpollEvent) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(evs))), uintptr(len(evs)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawSock is a detached client's socket. Its poller alone reads it (left
// is the poller's); its rate driver and, at the end, its goroutine write
// it, under wmu; it is closed when the pollers have stopped, so that no
// read can meet a descriptor number used again.
type rawSock struct {
	poller *roomPoller
	fd     int
	left   []byte // the start of a message not yet all read
	ended  chan struct{}
	once   sync.Once
	endErr error // set before ended closes

	wmu  sync.Mutex
	done bool // the close frame is sent
	wbuf []byte
}

// detach moves c's connection to a poller. The Conn's reads must be done:
// what it read past them is parsed first.
func (c *roomClient) detach(rp *roomPollers, conn *websocket.Conn) error {
	fd, buffered, err := conn.Detach()
	if err != nil {
		return err
	}
	return c.attach(rp, fd, buffered)
}

// attachConn moves nc, a plain TCP connection (the room floor's), to a
// poller: a duplicate of its socket is read and nc is closed.
func (c *roomClient) attachConn(rp *roomPollers, nc net.Conn) error {
	defer nc.Close()
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return errors.New("loadtest: not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	cerr := raw.Control(func(s uintptr) {
		if fd, err = syscall.Dup(int(s)); err == nil {
			syscall.CloseOnExec(fd)
		}
	})
	if cerr != nil {
		return cerr
	}
	if err != nil {
		return err
	}
	return c.attach(rp, fd, nil)
}

// attach adds the socket fd, non-blocking, to a poller; buffered is what
// was read from it past the last whole message.
func (c *roomClient) attach(rp *roomPollers, fd int, buffered []byte) error {
	p := rp.ps[c.idx%len(rp.ps)]
	s := &rawSock{poller: p, fd: fd, ended: make(chan struct{}), left: buffered}
	c.sock = s
	rp.addFD(fd)
	if len(s.left) > 0 && !c.parse(nil, c.a.cfg.Now()) {
		return s.endErr
	}
	p.clients[c.idx].Store(c)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLET&0xffffffff, Fd: int32(c.idx)}
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
}

// readReady reads the socket until it would block (the poller's).
func (c *roomClient) readReady(buf []byte, now func() time.Time) {
	s := c.sock
	for {
		n, err := rawRead(s.fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return
		}
		if n <= 0 {
			if err == nil {
				err = errors.New("loadtest: connection closed by the server")
			}
			s.end(err)
			return
		}
		if !c.parse(buf[:n], now()) {
			return
		}
		if n < len(buf) {
			return // drained: the next data is a new edge
		}
	}
}

// parse handles the whole messages in s.left+data, keeping the rest. It
// reports false when the connection ended.
func (c *roomClient) parse(data []byte, recv time.Time) bool {
	s := c.sock
	if len(s.left) > 0 {
		s.left = append(s.left, data...)
		data = s.left
	}
	closed := false
	rest, err := splitFrames(data, roomMaxMessage, func(op byte, msg []byte) bool {
		switch op {
		case websocket.OpText:
			c.handle(msg, recv)
		case websocket.OpClose:
			closed = true
			return false
		}
		return true
	})
	switch {
	case err != nil:
		s.end(err)
		return false
	case closed:
		s.end(errors.New("loadtest: closed by the server"))
		return false
	}
	s.left = append(s.left[:0], rest...)
	return true
}

// end records why the connection ended.
func (s *rawSock) end(err error) {
	s.once.Do(func() {
		s.endErr = err
		close(s.ended)
	})
}

// write sends one masked text message, waiting while the socket is full.
func (s *rawSock) write(msg []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.done {
		return websocket.ErrClosed
	}
	var mask [4]byte
	binary.NativeEndian.PutUint32(mask[:], rand.Uint32())
	s.wbuf = websocket.AppendMaskedHeader(s.wbuf[:0], websocket.OpText, len(msg), mask)
	start := len(s.wbuf)
	s.wbuf = append(s.wbuf, msg...)
	websocket.MaskBytes(mask, 0, s.wbuf[start:])
	return writeFD(s.fd, s.wbuf)
}

// writeFD writes b to the non-blocking fd, waiting while the socket is
// full (the server is not reading: rare), for up to 10 s.
func writeFD(fd int, b []byte) error {
	deadline := time.Now().Add(10 * time.Second)
	for len(b) > 0 {
		n, err := rawWrite(fd, b)
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
			if time.Now().After(deadline) {
				return errors.New("loadtest: command write timed out")
			}
			time.Sleep(time.Millisecond)
			continue
		case err != nil:
			return err
		}
		b = b[n:]
	}
	return nil
}

// finish leaves the poller and sends a close frame (best effort) and the
// end of the stream; the descriptor is closed with the pollers.
func (s *rawSock) finish() {
	_ = syscall.EpollCtl(s.poller.epfd, syscall.EPOLL_CTL_DEL, s.fd, nil)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.done {
		return
	}
	s.done = true
	var mask [4]byte
	frame := websocket.AppendMaskedHeader(nil, websocket.OpClose, 2, mask)
	frame = append(frame, byte(websocket.CloseNormal>>8), byte(websocket.CloseNormal&0xff))
	_, _ = syscall.Write(s.fd, frame)
	_ = syscall.Shutdown(s.fd, syscall.SHUT_WR)
}
