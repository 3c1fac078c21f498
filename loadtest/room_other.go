//go:build !linux

package loadtest

import (
	"errors"
	"net"
	"time"

	"github.com/liveloop/liveloop/websocket"
)

// Elsewhere than Linux, each room client's goroutine reads its socket.

type roomPollers struct{}

type rawSock struct {
	ended  chan struct{}
	endErr error
}

func newRoomPollers(int, func() time.Time) (*roomPollers, error) {
	return nil, errors.New("loadtest: no epoll")
}

func (*roomPollers) close() {}

func (*roomClient) detach(*roomPollers, *websocket.Conn) error {
	return errors.New("loadtest: no epoll")
}

func (*roomClient) attachConn(*roomPollers, net.Conn) error {
	return errors.New("loadtest: no epoll")
}

func (*rawSock) write([]byte) error { return websocket.ErrClosed }

func (*rawSock) finish() {}
