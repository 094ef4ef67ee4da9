package mtasts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Mode is the policy mode of RFC 8461 §5.
type Mode string

const (
	// ModeEnforce: MX hosts must match the policy and present a
	// PKIX-valid certificate, else delivery is refused.
	ModeEnforce Mode = "enforce"
	// ModeTesting: failures are reported (logged and counted), delivery
	// continues.
	ModeTesting Mode = "testing"
	// ModeNone: the domain has withdrawn its policy.
	ModeNone Mode = "none"
)

// MaxAge is the largest max_age a policy may carry (RFC 8461 §3.2).
const MaxAge = 31557600

// STSPolicy is a parsed policy file (RFC 8461 §3.2).
type STSPolicy struct {
	Mode   Mode
	MX     []string // patterns, lower-case: "mx.example.net" or "*.example.net"
	MaxAge int      // seconds, 0..MaxAge
}

// Record is a parsed "_mta-sts" TXT record (RFC 8461 §3.1).
type Record struct {
	ID         string
	Extensions []string // "name=value" fields after id, verbatim
}

// ParseRecord parses one TXT record, e.g. "v=STSv1; id=20160831085700Z;".
// v=STSv1 must come first and id must be 1-32 alphanumerics (§3.1).
func ParseRecord(txt string) (Record, error) {
	var rec Record
	fields := strings.Split(txt, ";")
	// A trailing ";" (optionally followed by white space) is allowed.
	if n := len(fields); n > 1 && strings.Trim(fields[n-1], " \t") == "" {
		fields = fields[:n-1]
	}
	seenID := false
	for i, f := range fields {
		f = strings.Trim(f, " \t")
		k, v, ok := strings.Cut(f, "=")
		if !ok || !validFieldName(k) {
			return Record{}, fmt.Errorf("mtasts: malformed TXT field %d", i+1)
		}
		switch {
		case i == 0:
			if k != "v" || v != "STSv1" {
				return Record{}, errors.New("mtasts: TXT record does not start with v=STSv1")
			}
		case k == "id":
			if seenID {
				return Record{}, errors.New("mtasts: duplicate id in TXT record")
			}
			if !validID(v) {
				return Record{}, errors.New("mtasts: invalid id in TXT record")
			}
			rec.ID, seenID = v, true
		default:
			// sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
			if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r < 0x21 || r > 0x7e || r == ';' || r == '=' }) {
				return Record{}, fmt.Errorf("mtasts: malformed TXT extension %d", i+1)
			}
			rec.Extensions = append(rec.Extensions, k+"="+v)
		}
	}
	if !seenID {
		return Record{}, errors.New("mtasts: TXT record without id")
	}
	return rec, nil
}

// validFieldName: 1*32(ALPHA / DIGIT / "_" / "-" / ".") (§3.1, §3.2).
func validFieldName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !isAlnum(r) && r != '_' && r != '-' && r != '.' {
			return false
		}
	}
	return true
}

func validID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !isAlnum(r) {
			return false
		}
	}
	return true
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// ParsePolicy parses a policy file (RFC 8461 §3.2): "key: value" lines
// ended by CRLF or LF. version must be STSv1, mode enforce, testing or
// none, max_age a non-negative integer of at most MaxAge, and there must be
// at least one mx pattern unless mode is none. Unknown fields are ignored;
// a repeated version, mode or max_age makes the policy invalid.
func ParsePolicy(data []byte) (*STSPolicy, error) {
	var p STSPolicy
	var version string
	seen := map[string]bool{}
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		if strings.Trim(line, " \t") == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || !validFieldName(k) {
			return nil, fmt.Errorf("mtasts: policy line %d: malformed field", i+1)
		}
		v = strings.Trim(v, " \t")
		if v == "" || strings.ContainsFunc(v, func(r rune) bool { return (r < 0x21 || r > 0x7e) && r != ' ' && r != '\t' }) {
			return nil, fmt.Errorf("mtasts: policy line %d: malformed value", i+1)
		}
		if k != "mx" && seen[k] && (k == "version" || k == "mode" || k == "max_age") {
			return nil, fmt.Errorf("mtasts: policy line %d: duplicate %s", i+1, k)
		}
		seen[k] = true
		switch k {
		case "version":
			version = v
		case "mode":
			switch Mode(v) {
			case ModeEnforce, ModeTesting, ModeNone:
				p.Mode = Mode(v)
			default:
				return nil, fmt.Errorf("mtasts: policy line %d: unknown mode", i+1)
			}
		case "max_age":
			if len(v) > 10 || strings.ContainsFunc(v, func(r rune) bool { return r < '0' || r > '9' }) {
				return nil, fmt.Errorf("mtasts: policy line %d: invalid max_age", i+1)
			}
			n, err := strconv.Atoi(v)
			if err != nil || n > MaxAge {
				return nil, fmt.Errorf("mtasts: policy line %d: max_age out of range", i+1)
			}
			p.MaxAge = n
		case "mx":
			pat, err := parseMXPattern(v)
			if err != nil {
				return nil, fmt.Errorf("mtasts: policy line %d: %w", i+1, err)
			}
			p.MX = append(p.MX, pat)
		}
	}
	switch {
	case version != "STSv1":
		return nil, errors.New("mtasts: policy version is not STSv1")
	case p.Mode == "":
		return nil, errors.New("mtasts: policy without mode")
	case !seen["max_age"]:
		return nil, errors.New("mtasts: policy without max_age")
	case len(p.MX) == 0 && p.Mode != ModeNone:
		return nil, errors.New("mtasts: policy without mx")
	}
	return &p, nil
}

// parseMXPattern checks a host name, optionally with a leading "*." label
// (RFC 8461 §3.2, §4.1), and returns it lower-case without a final dot.
func parseMXPattern(v string) (string, error) {
	v = strings.ToLower(strings.TrimSuffix(v, "."))
	name := strings.TrimPrefix(v, "*.")
	if name == "" || strings.Contains(name, "*") || !validHostname(name) {
		return "", errors.New("invalid mx pattern")
	}
	return v, nil
}

func validHostname(s string) bool {
	if len(s) > 253 || strings.Count(s, ".") < 1 {
		return false
	}
	if _, ok := dns.IsDomainName(s); !ok {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !isAlnum(r) && r != '-' && r != '_' {
				return false
			}
		}
	}
	return true
}

// Matches reports whether host (any case, trailing dot allowed) matches one
// of the mx patterns: a literal name matches itself; "*.example.net"
// matches exactly one extra label, so "mx.example.net" but neither
// "example.net" nor "a.b.example.net" (RFC 8461 §4.1).
func (p *STSPolicy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			first, parent, ok := strings.Cut(host, ".")
			if ok && first != "" && parent == rest {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}
