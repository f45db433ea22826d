//go:build !linux

package serve

import (
	"errors"
	"net"
)

// stopHandshakes is supported on Linux only; elsewhere closing a listener
// may reset connections the kernel completed but mlgate had not accepted.
func stopHandshakes(net.Listener) error { return errors.New("not supported on this system") }
