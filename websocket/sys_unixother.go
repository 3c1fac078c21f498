//go:build unix && !linux

package websocket

import "syscall"

// sysWrite is write(2) on a non-blocking socket.
func sysWrite(fd uintptr, b []byte) (int, error) { return syscall.Write(int(fd), b) }
