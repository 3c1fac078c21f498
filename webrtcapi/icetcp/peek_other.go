//go:build !unix

package icetcp

import (
	"errors"
	"net"
)

// canPeek: peek needs recv(2) with MSG_PEEK, which this platform's
// syscall package lacks, so New refuses to start.
const canPeek = false

func peek(net.Conn, []byte, int) (int, error) { return 0, errors.ErrUnsupported }
