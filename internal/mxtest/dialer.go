package mxtest

import (
	"context"
	"net"
	"sync"
	"syscall"
)

// Dialer routes dials to in-process servers: Map sends an address
// ("10.0.0.1:25") to a real one ("127.0.0.1:40123"). Any other address is
// refused with ECONNREFUSED, so tests never leave the machine.
type Dialer struct {
	Map map[string]string

	mu    sync.Mutex
	dials []string
}

// DialContext implements delivery.Dialer.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.dials = append(d.dials, addr)
	to, ok := d.Map[addr]
	d.mu.Unlock()
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, to)
}

// Dials returns the addresses asked for, in order, mapped or not.
func (d *Dialer) Dials() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.dials...)
}
