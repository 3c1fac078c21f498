package serverproc

import "syscall"

// DieWithParent is the SysProcAttr of a child (server, encoder) that
// the kernel kills when the process that started it dies, so a killed
// tool leaves nothing behind.
func DieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
