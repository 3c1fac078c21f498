//go:build unix

package websocket

import "syscall"

// writeNow makes one non-blocking write(2) of b to the socket fd: it
// returns how much the socket took, 0 when it would block.
func writeNow(fd uintptr, b []byte) (n int, err error) {
	for {
		n, err = sysWrite(fd, b)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EAGAIN {
		return 0, nil
	}
	return max(n, 0), err
}

// dupSocket returns a close-on-exec duplicate of the socket fd.
func dupSocket(fd uintptr) (int, error) {
	d, err := syscall.Dup(int(fd))
	if err != nil {
		return -1, err
	}
	syscall.CloseOnExec(d)
	return d, nil
}
