package mtasts

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
)

// MaxPolicySize bounds the policy body (RFC 8461 §3.3 leaves the limit to
// the sender; 64 KiB is far beyond any real policy).
const MaxPolicySize = 64 << 10

// fetchError is a failed policy fetch; result is the metric label.
type fetchError struct {
	result string
	err    error
}

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

func fetchErr(result, format string, args ...any) *fetchError {
	return &fetchError{result: result, err: fmt.Errorf(format, args...)}
}

var errRedirect = errors.New("redirect refused (RFC 8461 §3.3)")

// newHTTPClient builds the client for policy fetches. Host names are
// resolved with the delivery Resolver and connections opened with the
// Dialer, so the policy host is reached the same way as the MX hosts (and
// tests can point it at loopback). The certificate is always PKIX-verified
// against rootCAs for "mta-sts.<domain>"; no proxy, no redirects.
func (p *Policy) newHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:       nil,
		DialContext: p.dialPolicyHost,
		TLSClientConfig: &tls.Config{
			RootCAs:    p.opts.RootCAs,
			MinVersion: tls.VersionTLS12,
		},
		TLSHandshakeTimeout:    p.opts.FetchTimeout,
		ResponseHeaderTimeout:  p.opts.FetchTimeout,
		MaxResponseHeaderBytes: 16 << 10,
		DisableKeepAlives:      true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   p.opts.FetchTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errRedirect
		},
	}
}

func (p *Policy) dialPolicyHost(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else if ips, _, err = p.opts.Resolver.LookupIP(ctx, host); err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%s has no address", host)
	}
	var last error
	for _, ip := range ips {
		c, err := p.opts.Dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// fetch downloads and parses https://mta-sts.<domain>/.well-known/mta-sts.txt
// (RFC 8461 §3.3): status 200, Content-Type text/plain, at most
// MaxPolicySize bytes, no redirects, bounded by FetchTimeout.
func (p *Policy) fetch(ctx context.Context, domain string) (*STSPolicy, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.FetchTimeout)
	defer cancel()
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fetchErr("error", "policy request: %v", err)
	}
	req.Header.Set("User-Agent", "sealgate")
	resp, err := p.client.Do(req)
	if err != nil {
		if errors.Is(err, errRedirect) {
			return nil, fetchErr("redirect", "policy host redirected")
		}
		return nil, fetchErr("error", "policy fetch: %s", reason(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fetchErr("http_status", "policy fetch: HTTP status %d", resp.StatusCode)
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "text/plain" {
		return nil, fetchErr("content_type", "policy fetch: Content-Type is not text/plain")
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		return nil, fetchErr("error", "policy fetch: reading body: %s", reason(err))
	}
	if len(body) > MaxPolicySize {
		return nil, fetchErr("too_large", "policy fetch: body larger than %d bytes", MaxPolicySize)
	}
	pol, err := ParsePolicy(body)
	if err != nil {
		return nil, &fetchError{result: "invalid", err: err}
	}
	return pol, nil
}

// reason describes a fetch error briefly, without echoing the URL.
func reason(err error) string {
	var ce *tls.CertificateVerificationError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return "certificate not valid for the policy host"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}
