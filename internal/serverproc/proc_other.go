//go:build !linux

package serverproc

import "syscall"

// DieWithParent has nothing to ask of the kernel here: a child outlives
// a tool killed without its Stop.
func DieWithParent() *syscall.SysProcAttr { return nil }
