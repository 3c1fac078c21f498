//go:build !linux

package loadtest

import "github.com/pion/transport/v4"

// groNet is the transport.Net the viewers' ICE agents listen with: UDP
// GRO is Linux's, so elsewhere the viewers read datagrams one by one.
type groNet struct{ transport.Net }
