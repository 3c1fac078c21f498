package websocket

import (
	"syscall"
	"unsafe"
)

// sysWrite is write(2) on a non-blocking socket, made without telling the
// Go scheduler (a raw system call): it cannot block, only take the
// kernel's time (on loopback about 13 µs, the receiver's half included).
// Through syscall.Write the runtime marks the goroutine's P as in a
// system call, and while every P is busy sysmon wakes every 20 µs and
// hands a P whose call spans two of its wake-ups to another thread: at
// 20,000 fan-out writes a second on two cores, perf showed sysmon's
// wake-ups alone at 6% of the server's CPU, with the hand-offs' thread
// switches on top. A raw call keeps the P, and sysmon backs off.
func sysWrite(fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}
