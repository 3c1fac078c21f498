//go:build !unix

package llhls

import "time"

// cpuTime reports -1: the process's CPU time is not measured here.
func cpuTime() time.Duration { return -1 }
