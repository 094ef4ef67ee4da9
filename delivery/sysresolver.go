package delivery

import (
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// SystemResolver is NewDNSResolver over the name servers of
// /etc/resolv.conf, for a configuration that names none.
func SystemResolver() (Resolver, error) {
	cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return nil, fmt.Errorf("delivery: no DNS servers configured and no /etc/resolv.conf: %w", err)
	}
	var servers []string
	for _, s := range cfg.Servers {
		servers = append(servers, net.JoinHostPort(s, cfg.Port))
	}
	return NewDNSResolver(servers, time.Duration(cfg.Timeout)*time.Second), nil
}
