package policy

import "strings"

// glob matches s against pattern, where '*' is any run of characters (dots
// and '@' included) and '?' is one byte. Both are expected in lower case.
// It is the classic two-pointer algorithm: linear in len(s)·len(pattern)
// at worst, no recursion.
func glob(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// addrPattern is a compiled From/To pattern.
type addrPattern struct {
	pat    string // lower case
	domain bool   // matches the domain part only
}

func (a addrPattern) match(addr, domain string) bool {
	if a.domain {
		return glob(a.pat, domain)
	}
	return glob(a.pat, addr)
}

// splitAddr lower-cases an address and returns it with its domain (after
// the last '@', without a trailing dot). An address without '@' has an
// empty domain.
func splitAddr(addr string) (string, string) {
	a := strings.ToLower(strings.TrimSpace(addr))
	a = strings.TrimSuffix(strings.TrimPrefix(a, "<"), ">")
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return a, ""
	}
	return a, strings.TrimSuffix(a[i+1:], ".")
}

// indexFold finds sub in s with ASCII case folding only, so that byte
// offsets in s are preserved. sub must be lower case.
func indexFold(s, sub string) int {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
		}
		if j == n {
			return i
		}
	}
	return -1
}

// StripSubject removes every occurrence of the tags (ASCII
// case-insensitive) from subject and tidies the spaces left behind. The
// caller applies it with Decision.StripSubjectTags before sending.
func StripSubject(subject string, tags []string) string {
	out := subject
	changed := false
	for _, t := range tags {
		lt := strings.ToLower(t)
		if lt == "" {
			continue
		}
		for {
			i := indexFold(out, lt)
			if i < 0 {
				break
			}
			out = out[:i] + out[i+len(lt):]
			changed = true
		}
	}
	if !changed {
		return subject
	}
	return strings.Join(strings.Fields(out), " ")
}
