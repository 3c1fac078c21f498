//go:build !unix

package interact

import "time"

// cpuTime is not measured here: cpu-µs/vote reads 0.
func cpuTime() time.Duration { return 0 }
