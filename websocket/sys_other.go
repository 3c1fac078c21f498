//go:build !unix

package websocket

import "errors"

// writeNow takes nothing where there is no non-blocking write(2): Send
// queues every frame for the connection's Flush.
func writeNow(fd uintptr, b []byte) (int, error) { return 0, nil }

// dupSocket is not supported here: Detach is for Unix pollers.
func dupSocket(fd uintptr) (int, error) {
	return -1, errors.ErrUnsupported
}
