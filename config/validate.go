package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// Validate checks values that YAML types cannot: addresses, enums, ranges
// and combinations. Every problem is recorded, not just the first.
func (c *Config) Validate(p *Problems) {
	if !validHostname(c.Hostname) {
		p.Add("hostname", "%q is not a fully qualified host name (it is the EHLO name and the DSN reporting MTA)", c.Hostname)
	}
	if c.DataDir == "" {
		p.Add("data_dir", "must not be empty")
	}
	oneOf(p, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf(p, "log.format", c.Log.Format, "text", "json")
	c.SMTP.validate("smtp", p)
	c.Queue.validate("queue", p)
	c.Delivery.validate("delivery", p)
	for i, k := range c.DKIM.Keys {
		path := fmt.Sprintf("dkim.keys[%d]", i)
		if !validHostname(k.Domain) {
			p.Add(Join(path, "domain"), "%q is not a domain name", k.Domain)
		}
		if k.Selector == "" || strings.ContainsAny(k.Selector, " ;=") {
			p.Add(Join(path, "selector"), "%q is not a valid selector", k.Selector)
		}
		if k.KeyFile == "" {
			p.Add(Join(path, "key_file"), "is required (a PEM RSA or Ed25519 private key)")
		}
		if k.Generate != "" {
			oneOf(p, Join(path, "generate"), k.Generate, "rsa", "ed25519")
		}
	}
	if c.Metrics.Address != "" {
		hostPort(p, "metrics.address", c.Metrics.Address)
	}
	if c.Web.Address != "" {
		hostPort(p, "web.address", c.Web.Address)
	}
	if c.Web.BaseURL != "" {
		u, err := url.Parse(c.Web.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.Add("web.base_url", "%q is not an absolute http(s) URL", c.Web.BaseURL)
		}
	}
	for i, s := range c.Web.TrustedProxies {
		prefix(p, fmt.Sprintf("web.trusted_proxies[%d]", i), s)
	}
	c.PHI.Validate("phi", p)
	c.Tracking.Validate("tracking", p)
	c.validateProtection(p)
	c.Policy.Validate("policy", p)
	c.Policy.ValidateKinds("policy", &c.PHI, p)
}

func (s *SMTPConfig) validate(path string, p *Problems) {
	if len(s.Listeners) == 0 {
		p.Add(Join(path, "listeners"), "at least one listener is required")
	}
	for i, l := range s.Listeners {
		lp := fmt.Sprintf("%s.listeners[%d]", path, i)
		hostPort(p, Join(lp, "address"), l.Address)
		oneOf(p, Join(lp, "tls"), l.TLS, "starttls", "implicit", "none")
	}
	if (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
		p.Add(Join(path, "tls"), "cert_file and key_file go together (leave both empty for a self-signed certificate made on first start)")
	}
	for i, n := range s.RelayNetworks {
		prefix(p, fmt.Sprintf("%s.relay_networks[%d]", path, i), n)
	}
	seen := map[string]bool{}
	for i, u := range s.Users {
		up := fmt.Sprintf("%s.users[%d]", path, i)
		if u.Name == "" {
			p.Add(Join(up, "name"), "is required")
		} else if seen[u.Name] {
			p.Add(Join(up, "name"), "user %q is listed twice", u.Name)
		}
		seen[u.Name] = true
		if !strings.HasPrefix(u.PasswordHash, "$2a$") && !strings.HasPrefix(u.PasswordHash, "$2b$") && !strings.HasPrefix(u.PasswordHash, "$2y$") {
			p.Add(Join(up, "password_hash"), "must be a bcrypt hash (make one with `sealgate passwd`)")
		}
	}
	for i, d := range s.AllowedSenderDomains {
		if !validHostname(strings.TrimPrefix(d, "*.")) {
			p.Add(fmt.Sprintf("%s.allowed_sender_domains[%d]", path, i), "%q is not a domain name", d)
		}
	}
	positive(p, Join(path, "max_message_size"), int64(s.MaxMessageSize), 1024)
	positive(p, Join(path, "max_recipients"), int64(s.MaxRecipients), 1)
	positive(p, Join(path, "max_connections"), int64(s.MaxConnections), 1)
	positive(p, Join(path, "max_connections_per_ip"), int64(s.MaxConnectionsPerIP), 1)
	positive(p, Join(path, "max_line_length"), int64(s.MaxLineLength), 1000)
	positive(p, Join(path, "command_timeout"), int64(s.CommandTimeout), 1e9)
	positive(p, Join(path, "data_timeout"), int64(s.DataTimeout), 1e9)
}

func (q *QueueConfig) validate(path string, p *Problems) {
	positive(p, Join(path, "workers"), int64(q.Workers), 1)
	positive(p, Join(path, "min_retry"), int64(q.MinRetry), 1e9)
	positive(p, Join(path, "max_retry"), int64(q.MaxRetry), 1e9)
	positive(p, Join(path, "max_lifetime"), int64(q.MaxLifetime), 60e9)
	if q.MaxRetry < q.MinRetry {
		p.Add(Join(path, "max_retry"), "must not be shorter than min_retry")
	}
}

func (d *DeliveryConfig) validate(path string, p *Problems) {
	for i, s := range d.DNSServers {
		hostPort(p, fmt.Sprintf("%s.dns_servers[%d]", path, i), s)
	}
	if d.Smarthost != "" {
		hostPort(p, Join(path, "smarthost"), d.Smarthost)
	}
	if (d.SmarthostAuth.Username == "") != (d.SmarthostAuth.PasswordFile == "") {
		p.Add(Join(path, "smarthost_auth"), "username and password_file go together")
	}
	tlsPolicy(p, Join(path, "smarthost_tls"), d.SmarthostTLS)
	tlsPolicy(p, Join(path, "tls_policy"), d.TLSPolicy)
	for dom, pol := range d.DomainTLSPolicy {
		if !validHostname(dom) {
			p.Add(Join(path, "domain_tls_policy"), "%q is not a domain name", dom)
		}
		tlsPolicy(p, Join(Join(path, "domain_tls_policy"), dom), pol)
	}
	for dom, hp := range d.Routes {
		if !validHostname(dom) {
			p.Add(Join(path, "routes"), "%q is not a domain name", dom)
		}
		hostPort(p, Join(Join(path, "routes"), dom), hp)
	}
	if d.Port < 1 || d.Port > 65535 {
		p.Add(Join(path, "port"), "%d is not a TCP port", d.Port)
	}
	positive(p, Join(path, "connect_timeout"), int64(d.ConnectTimeout), 1e9)
	positive(p, Join(path, "command_timeout"), int64(d.CommandTimeout), 1e9)
	positive(p, Join(path, "data_timeout"), int64(d.DataTimeout), 1e9)
	positive(p, Join(path, "max_per_destination"), int64(d.MaxPerDestination), 1)
}

func tlsPolicy(p *Problems, path, v string) {
	oneOf(p, path, v, "none", "opportunistic", "required", "verified")
}

func oneOf(p *Problems, path, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	p.Add(path, "%q is not one of %s", v, strings.Join(allowed, " | "))
}

func positive(p *Problems, path string, v, min int64) {
	if v < min {
		p.Add(path, "must be at least %d (got %d)", min, v)
	}
}

func hostPort(p *Problems, path, v string) {
	host, port, err := net.SplitHostPort(v)
	if err != nil || port == "" {
		p.Add(path, "%q is not host:port (e.g. 127.0.0.1:25)", v)
		return
	}
	if host != "" && !validHostname(host) {
		if _, err := netip.ParseAddr(host); err != nil {
			p.Add(path, "%q: %q is neither an IP address nor a host name", v, host)
		}
	}
}

func prefix(p *Problems, path, v string) {
	if _, err := netip.ParsePrefix(v); err != nil {
		if _, err := netip.ParseAddr(v); err != nil {
			p.Add(path, "%q is not a CIDR network (e.g. 10.0.0.0/8) or an IP address", v)
		}
	}
}

func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
