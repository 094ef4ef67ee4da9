package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// TrackingConfig is engagement tracking: link and pixel rewriting, the
// human-vs-automated classifier, events, reports and webhooks. Off by default.
type TrackingConfig struct {
	Enabled bool `yaml:"enabled"`
	// Senders are the envelope senders whose mail is tracked: addresses,
	// "@domain" or "*.domain" globs. Empty (with enabled) tracks every sender.
	Senders []string `yaml:"senders"`
	// CampaignsOnly tracks only messages that carry an X-Sealgate-Campaign header.
	CampaignsOnly bool `yaml:"campaigns_only"`
	// BaseURL of the tracking links; default web.base_url.
	BaseURL string `yaml:"base_url"`
	// KeyFile holds the token key ("ID:base64url"); empty: data_dir/tracking.key,
	// made on first start. PreviousKeyFiles keep working until PreviousUntil.
	KeyFile          string   `yaml:"key_file"`
	PreviousKeyFiles []string `yaml:"previous_key_files"`
	PreviousUntil    string   `yaml:"previous_until"` // RFC 3339
	MaxTokenAge      Duration `yaml:"max_token_age"`  // 0: links do not expire
	// Exclusions are URL prefixes or host globs left untracked (unsubscribe, portal).
	Exclusions         []string `yaml:"exclusions"`
	Honeypot           bool     `yaml:"honeypot"`
	StoreClientDetails bool     `yaml:"store_client_details"`
	RateLimit          struct {
		PerSecond float64 `yaml:"per_second"`
		Burst     int     `yaml:"burst"`
	} `yaml:"rate_limit"`
	Classifier struct {
		AppleRangesFile string   `yaml:"apple_ranges_file"`
		ScannerDataFile string   `yaml:"scanner_data_file"`
		ClickTooSoon    Duration `yaml:"click_too_soon"`
	} `yaml:"classifier"`
	Events struct {
		Retention         Duration `yaml:"retention"`
		SuppressAutomated bool     `yaml:"suppress_automated"`
	} `yaml:"events"`
	// AdminTokenFile holds the bearer token of the report API; empty: the
	// API refuses everyone.
	AdminTokenFile string         `yaml:"admin_token_file"`
	Webhooks       WebhooksConfig `yaml:"webhooks"`
}

// WebhooksConfig lists webhook subscribers and the retry schedule.
type WebhooksConfig struct {
	MaxAttempts int                `yaml:"max_attempts"`
	RetryBase   Duration           `yaml:"retry_base"`
	RetryCap    Duration           `yaml:"retry_cap"`
	Subscribers []SubscriberConfig `yaml:"subscribers"`
}

// SubscriberConfig is one webhook receiver.
type SubscriberConfig struct {
	Name             string   `yaml:"name"`
	URL              string   `yaml:"url"`
	SecretFile       string   `yaml:"secret_file"`
	Kinds            []string `yaml:"kinds"`
	IncludeAutomated bool     `yaml:"include_automated"`
}

var subscriberNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

var eventKinds = []string{"open", "click", "honeypot", "delivered", "deferred", "bounced"}

// Validate checks the tracking section.
func (t *TrackingConfig) Validate(path string, p *Problems) {
	for i, s := range t.Senders {
		d := strings.TrimPrefix(strings.TrimPrefix(s, "*."), "@")
		if at := strings.LastIndexByte(d, '@'); at >= 0 {
			d = d[at+1:]
		}
		if !validHostname(d) {
			p.Add(fmt.Sprintf("%s.senders[%d]", path, i), "%q is not an address, @domain or *.domain", s)
		}
	}
	if t.BaseURL != "" {
		if u, err := url.Parse(t.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.Add(Join(path, "base_url"), "%q is not an absolute http(s) URL", t.BaseURL)
		}
	}
	if len(t.PreviousKeyFiles) > 0 {
		if _, err := time.Parse(time.RFC3339, t.PreviousUntil); err != nil {
			p.Add(Join(path, "previous_until"), "needs an RFC 3339 time (e.g. 2027-01-31T00:00:00Z) when previous_key_files are listed")
		}
	}
	if t.RateLimit.PerSecond < 0 || t.RateLimit.Burst < 0 {
		p.Add(Join(path, "rate_limit"), "must not be negative")
	}
	seen := map[string]bool{}
	for i, s := range t.Webhooks.Subscribers {
		sp := fmt.Sprintf("%s.webhooks.subscribers[%d]", path, i)
		if !subscriberNameRE.MatchString(s.Name) {
			p.Add(Join(sp, "name"), "%q: use 1-64 letters, digits, '_', '.' or '-'", s.Name)
		} else if seen[s.Name] {
			p.Add(Join(sp, "name"), "subscriber %q is listed twice", s.Name)
		}
		seen[s.Name] = true
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			p.Add(Join(sp, "url"), "%q is not an absolute http(s) URL", s.URL)
		}
		if s.SecretFile == "" {
			p.Add(Join(sp, "secret_file"), "is required (a file with at least 16 bytes of secret)")
		}
		for j, k := range s.Kinds {
			ok := false
			for _, e := range eventKinds {
				ok = ok || k == e
			}
			if !ok {
				p.Add(fmt.Sprintf("%s.kinds[%d]", sp, j), "%q is not one of %s", k, strings.Join(eventKinds, " | "))
			}
		}
	}
	if t.Webhooks.MaxAttempts < 0 {
		p.Add(Join(path, "webhooks.max_attempts"), "must not be negative")
	}
}

// TracksSender reports whether mail from sender is tracked.
func (t *TrackingConfig) TracksSender(sender string) bool {
	if !t.Enabled || sender == "" {
		return false
	}
	if len(t.Senders) == 0 {
		return true
	}
	sender = strings.ToLower(sender)
	domain := sender[strings.LastIndexByte(sender, '@')+1:]
	for _, s := range t.Senders {
		s = strings.ToLower(s)
		switch {
		case strings.HasPrefix(s, "*."):
			if strings.HasSuffix(domain, s[1:]) || domain == s[2:] {
				return true
			}
		case strings.HasPrefix(s, "@"):
			if domain == s[1:] {
				return true
			}
		case sender == s:
			return true
		}
	}
	return false
}
