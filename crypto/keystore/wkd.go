package keystore

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// zbase32 is the z-base-32 alphabet used by WKD (draft-koch-openpgp-webkey-service §3.1).
var zbase32 = base32.NewEncoding("ybndrfg8ejkmcpqxot1uwisza345h769").WithPadding(base32.NoPadding)

// WKD defaults.
const (
	DefaultWKDTimeout     = 10 * time.Second
	DefaultWKDCacheTTL    = time.Hour
	DefaultWKDNegativeTTL = 10 * time.Minute
	DefaultWKDMaxEntries  = 10000
	DefaultWKDMaxKeyBytes = 256 << 10
)

// ErrWKD wraps every WKD failure other than "no key" (HTTP 404).
var ErrWKD = errors.New("keystore: wkd lookup failed")

// WKDMethod is one of the two WKD URL shapes.
type WKDMethod int

// The WKD methods, tried in this order.
const (
	WKDAdvanced WKDMethod = iota // https://openpgpkey.<domain>/.well-known/openpgpkey/<domain>/hu/<hash>?l=<local>
	WKDDirect                    // https://<domain>/.well-known/openpgpkey/hu/<hash>?l=<local>
)

func (m WKDMethod) String() string {
	if m == WKDAdvanced {
		return "advanced"
	}
	return "direct"
}

// WKDOptions configures a WKD client. The zero value asks the real hosts.
type WKDOptions struct {
	// Client makes the requests; nil means a client that requires TLS 1.2+
	// and follows at most 3 redirects, all to https.
	Client *http.Client
	// Timeout bounds one lookup, both methods included; 0 means DefaultWKDTimeout.
	Timeout time.Duration
	// CacheTTL keeps found keys; NegativeTTL keeps "no key" answers.
	// 0 means the defaults; negative disables that cache.
	CacheTTL    time.Duration
	NegativeTTL time.Duration
	// MaxEntries bounds the cache; 0 means DefaultWKDMaxEntries.
	MaxEntries int
	// MaxKeyBytes bounds a response body; 0 means DefaultWKDMaxKeyBytes.
	MaxKeyBytes int64
	// Clock decides key validity and cache expiry; nil means SystemClock.
	Clock Clock
	// BaseURL returns the scheme and authority to ask for a method and
	// domain, e.g. "https://openpgpkey.example.org". nil means the real
	// hosts. It must return an https URL; tests point it at httptest.
	BaseURL func(m WKDMethod, domain string) string
}

// WKD looks up OpenPGP keys in the Web Key Directory of the recipient's
// domain (draft-koch-openpgp-webkey-service §3.1). It implements Lookup.
type WKD struct {
	opts WKDOptions

	mu    sync.Mutex
	cache map[string]wkdCacheEntry
}

type wkdCacheEntry struct {
	keys    openpgp.EntityList // nil: negative entry
	expires time.Time
}

// NewWKD returns a WKD client.
func NewWKD(opts WKDOptions) *WKD {
	if opts.Client == nil {
		opts.Client = &http.Client{
			Transport: &http.Transport{
				Proxy:           http.ProxyFromEnvironment,
				TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12},
			},
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("too many redirects")
				}
				if req.URL.Scheme != "https" {
					return errors.New("redirect to a non-https URL")
				}
				return nil
			},
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultWKDTimeout
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = DefaultWKDCacheTTL
	}
	if opts.NegativeTTL == 0 {
		opts.NegativeTTL = DefaultWKDNegativeTTL
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultWKDMaxEntries
	}
	if opts.MaxKeyBytes <= 0 {
		opts.MaxKeyBytes = DefaultWKDMaxKeyBytes
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.BaseURL == nil {
		opts.BaseURL = func(m WKDMethod, domain string) string {
			if m == WKDAdvanced {
				return "https://openpgpkey." + domain
			}
			return "https://" + domain
		}
	}
	return &WKD{opts: opts, cache: map[string]wkdCacheEntry{}}
}

// WKDHash is the z-base-32 encoded SHA-1 of the lower-cased local part
// (draft-koch-openpgp-webkey-service §3.1).
func WKDHash(local string) string {
	sum := sha1.Sum([]byte(strings.ToLower(local)))
	return zbase32.EncodeToString(sum[:])
}

// WKDURL is the URL asked for local@domain with method m under base.
func WKDURL(m WKDMethod, base, local, domain string) string {
	path := "/.well-known/openpgpkey/hu/"
	if m == WKDAdvanced {
		path = "/.well-known/openpgpkey/" + domain + "/hu/"
	}
	return strings.TrimSuffix(base, "/") + path + WKDHash(local) + "?l=" + url.QueryEscape(local)
}

// Lookup asks the advanced method and, when its host cannot be reached,
// the direct method. HTTP 404 means no key. Keys are kept only when a user
// ID carries addr and they are usable now.
func (w *WKD) Lookup(ctx context.Context, addr string) (Keys, error) {
	n, err := normalizeAddr(addr)
	if err != nil {
		return Keys{}, err
	}
	local, domain, _ := strings.Cut(n, "@")
	now := w.opts.Clock.Now()
	cacheKey := strings.ToLower(local) + "@" + domain

	if ent, ok := w.cached(cacheKey, now); ok {
		return w.result(ent.keys, n, now), nil
	}

	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	var el openpgp.EntityList
	found, el, err := w.fetch(ctx, WKDAdvanced, local, domain)
	if err != nil && isTransport(err) && ctx.Err() == nil {
		found, el, err = w.fetch(ctx, WKDDirect, local, domain)
	}
	if err != nil {
		return Keys{}, err
	}
	if found {
		w.store(cacheKey, el, now.Add(w.opts.CacheTTL), w.opts.CacheTTL > 0)
	} else {
		w.store(cacheKey, nil, now.Add(w.opts.NegativeTTL), w.opts.NegativeTTL > 0)
	}
	return w.result(el, n, now), nil
}

func (w *WKD) result(el openpgp.EntityList, addr string, now time.Time) Keys {
	var k Keys
	for _, e := range el {
		items := []*item{entityItem(e)}
		if got := usable(items, now, addr); len(got.PGP) > 0 {
			k.PGP = append(k.PGP, got.PGP...)
		}
	}
	if !k.Empty() {
		k.Source = SourceWKD
	}
	return k
}

// transportError marks a failure to reach the host (no HTTP answer).
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func isTransport(err error) bool {
	var te *transportError
	return errors.As(err, &te)
}

// fetch asks one method. found is false for HTTP 404.
func (w *WKD) fetch(ctx context.Context, m WKDMethod, local, domain string) (bool, openpgp.EntityList, error) {
	base := w.opts.BaseURL(m, domain)
	if !strings.HasPrefix(base, "https://") {
		return false, nil, fmt.Errorf("%w: %s method: base URL is not https", ErrWKD, m)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, WKDURL(m, base, local, domain), nil)
	if err != nil {
		return false, nil, fmt.Errorf("%w: %s method: %v", ErrWKD, m, err)
	}
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		return false, nil, fmt.Errorf("%w: %s method for %s: %w", ErrWKD, m, domain, &transportError{err})
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return false, nil, nil
	case resp.StatusCode != http.StatusOK:
		return false, nil, fmt.Errorf("%w: %s method for %s: HTTP %d", ErrWKD, m, domain, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, w.opts.MaxKeyBytes+1))
	if err != nil {
		return false, nil, fmt.Errorf("%w: %s method for %s: %v", ErrWKD, m, domain, err)
	}
	if int64(len(body)) > w.opts.MaxKeyBytes {
		return false, nil, fmt.Errorf("%w: %s method for %s: response larger than %d bytes", ErrWKD, m, domain, w.opts.MaxKeyBytes)
	}
	var items []*item
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("-----BEGIN")) {
		items, err = parseKeys(body, formatPGP)
	} else {
		items, err = readEntities(bytes.NewReader(body))
	}
	if err != nil {
		return false, nil, fmt.Errorf("%w: %s method for %s: %v", ErrWKD, m, domain, err)
	}
	el := make(openpgp.EntityList, 0, len(items))
	for _, it := range items {
		el = append(el, it.entity)
	}
	return true, el, nil
}

func (w *WKD) cached(key string, now time.Time) (wkdCacheEntry, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ent, ok := w.cache[key]
	if !ok {
		return wkdCacheEntry{}, false
	}
	if !now.Before(ent.expires) {
		delete(w.cache, key)
		return wkdCacheEntry{}, false
	}
	return ent, true
}

func (w *WKD) store(key string, el openpgp.EntityList, expires time.Time, enabled bool) {
	if !enabled {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.cache) >= w.opts.MaxEntries {
		now := w.opts.Clock.Now()
		for k, e := range w.cache {
			if !now.Before(e.expires) {
				delete(w.cache, k)
			}
		}
		for k := range w.cache {
			if len(w.cache) < w.opts.MaxEntries {
				break
			}
			delete(w.cache, k)
		}
	}
	w.cache[key] = wkdCacheEntry{keys: el, expires: expires}
}

// Resolver is the Lookup delivery uses: the store's keys for the exact
// address, then WKD (when configured), then the store's domain-wide keys.
// A personal key, local or published, wins over a domain-wide one.
type Resolver struct {
	Store *Store
	WKD   Lookup // nil: no WKD
}

// Lookup implements Lookup. When WKD fails and no domain-wide key exists,
// the WKD error is returned so that delivery can retry later rather than
// fall back to a weaker method.
func (r *Resolver) Lookup(ctx context.Context, addr string) (Keys, error) {
	k, err := r.Store.LookupAddress(addr)
	if err != nil || !k.Empty() {
		return k, err
	}
	var wkdErr error
	if r.WKD != nil {
		k, wkdErr = r.WKD.Lookup(ctx, addr)
		if wkdErr == nil && !k.Empty() {
			return k, nil
		}
	}
	_, domain, _ := strings.Cut(mustNorm(addr), "@")
	k, err = r.Store.LookupDomain(domain)
	if err != nil || !k.Empty() {
		return k, err
	}
	return Keys{}, wkdErr
}
