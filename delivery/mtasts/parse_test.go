package mtasts

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	good := []struct {
		name, in string
		want     STSPolicy
	}{
		{"crlf", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n",
			STSPolicy{Mode: ModeEnforce, MX: []string{"mail.example.com", "*.example.net"}, MaxAge: 604800}},
		{"lf-any-order-no-final-newline", "mode: testing\nmx: MX.Example.COM.\nmax_age: 0\nversion: STSv1",
			STSPolicy{Mode: ModeTesting, MX: []string{"mx.example.com"}, MaxAge: 0}},
		{"none-without-mx", "version: STSv1\nmode: none\nmax_age: 31557600\n",
			STSPolicy{Mode: ModeNone, MaxAge: 31557600}},
		{"unknown-field-and-spaces", "version:STSv1\nmode:   enforce\t\nx-ext: whatever value\nmx: a.example.org\nmax_age: 86400\n",
			STSPolicy{Mode: ModeEnforce, MX: []string{"a.example.org"}, MaxAge: 86400}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tc.in))
			if err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			if p.Mode != tc.want.Mode || p.MaxAge != tc.want.MaxAge || !slices.Equal(p.MX, tc.want.MX) {
				t.Errorf("got %+v, want %+v", *p, tc.want)
			}
		})
	}
	bad := map[string]string{
		"empty":             "",
		"wrong-version":     "version: STSv2\nmode: enforce\nmx: a.example.org\nmax_age: 1\n",
		"no-version":        "mode: enforce\nmx: a.example.org\nmax_age: 1\n",
		"bad-mode":          "version: STSv1\nmode: Enforce\nmx: a.example.org\nmax_age: 1\n",
		"no-mode":           "version: STSv1\nmx: a.example.org\nmax_age: 1\n",
		"no-max-age":        "version: STSv1\nmode: enforce\nmx: a.example.org\n",
		"max-age-too-big":   "version: STSv1\nmode: enforce\nmx: a.example.org\nmax_age: 31557601\n",
		"max-age-negative":  "version: STSv1\nmode: enforce\nmx: a.example.org\nmax_age: -1\n",
		"max-age-huge":      "version: STSv1\nmode: enforce\nmx: a.example.org\nmax_age: 99999999999999999999\n",
		"max-age-plus":      "version: STSv1\nmode: enforce\nmx: a.example.org\nmax_age: +5\n",
		"enforce-no-mx":     "version: STSv1\nmode: enforce\nmax_age: 1\n",
		"duplicate-mode":    "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example.org\nmax_age: 1\n",
		"double-wildcard":   "version: STSv1\nmode: enforce\nmx: *.*.example.org\nmax_age: 1\n",
		"inner-wildcard":    "version: STSv1\nmode: enforce\nmx: mx.*.example.org\nmax_age: 1\n",
		"bare-wildcard":     "version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n",
		"single-label":      "version: STSv1\nmode: enforce\nmx: localhost\nmax_age: 1\n",
		"mx-with-space":     "version: STSv1\nmode: enforce\nmx: a.example.org b.example.org\nmax_age: 1\n",
		"no-colon":          "version STSv1\nmode: enforce\nmx: a.example.org\nmax_age: 1\n",
		"control-char":      "version: STSv1\nmode: enforce\x00\nmx: a.example.org\nmax_age: 1\n",
		"utf8-value":        "version: STSv1\nmode: enforce\nmx: mx.exämple.org\nmax_age: 1\n",
		"html-error-page":   "<html><body>404</body></html>",
		"long-field-name":   "version: STSv1\nmode: enforce\nmx: a.example.org\nmax_age: 1\n" + strings.Repeat("x", 33) + ": y\n",
		"empty-value":       "version: STSv1\nmode: enforce\nmx: \nmax_age: 1\n",
		"hyphen-label-edge": "version: STSv1\nmode: enforce\nmx: -mx.example.org\nmax_age: 1\n",
	}
	for name, in := range bad {
		t.Run("bad-"+name, func(t *testing.T) {
			if p, err := ParsePolicy([]byte(in)); err == nil {
				t.Errorf("accepted %q as %+v", in, *p)
			}
		})
	}
}

func TestParseRecord(t *testing.T) {
	good := map[string]string{
		"v=STSv1; id=20160831085700Z;":            "20160831085700Z",
		"v=STSv1;id=abc":                          "abc",
		"v=STSv1; id=abc; ext=value; x.y=z; ":     "abc",
		"v=STSv1;\tid=" + strings.Repeat("a", 32): strings.Repeat("a", 32),
	}
	for in, id := range good {
		r, err := ParseRecord(in)
		if err != nil || r.ID != id {
			t.Errorf("ParseRecord(%q) = %+v, %v; want id %q", in, r, err, id)
		}
	}
	for _, in := range []string{
		"", "v=STSv1;", "id=abc; v=STSv1;", "v=STSv2; id=abc;", "v=STSv1; id=;",
		"v=STSv1; id=" + strings.Repeat("a", 33), "v=STSv1; id=a-b;", "v=STSv1; id=a; id=b;",
		"v=STSv1; id=abc; ext=;", "v=STSv1; id=abc;;", "v=STSv1 id=abc", "v=STSv1; id=a b;",
	} {
		if r, err := ParseRecord(in); err == nil {
			t.Errorf("ParseRecord(%q) accepted: %+v", in, r)
		}
	}
}

func TestPickRecord(t *testing.T) {
	if r, err := pickRecord([]string{"spf stuff", "v=STSv1; id=one;"}); err != nil || r.ID != "one" {
		t.Errorf("one STS record among others: %+v %v", r, err)
	}
	if _, err := pickRecord([]string{"v=STSv1; id=one;", "v=STSv1; id=two;"}); err == nil {
		t.Error("two STSv1 records accepted (RFC 8461 §3.1: must be exactly one)")
	}
	if r, err := pickRecord([]string{"v=STSv10; id=x;", "v=STSv1; id=y;"}); err != nil || r.ID != "y" {
		t.Errorf("v=STSv10 must be discarded, not counted: %+v %v", r, err)
	}
	if _, err := pickRecord(nil); err == nil {
		t.Error("no record accepted")
	}
}

func TestMatches(t *testing.T) {
	p := STSPolicy{MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com":   true,
		"MAIL.Example.com.":  true,
		"x.mail.example.com": false,
		"example.com":        false,
		"mx1.example.net":    true,
		"example.net":        false,
		"a.b.example.net":    false,
		".example.net":       false,
		"mx1.example.net.ev": false,
		"evilexample.net":    false,
	} {
		if got := p.Matches(host); got != want {
			t.Errorf("Matches(%q) = %v, want %v", host, got, want)
		}
	}
}

// FuzzParsePolicy checks that the parser never panics and that whatever it
// accepts satisfies RFC 8461 §3.2 and survives a round trip.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0\n"))
	f.Add([]byte("version: STSv1\nmode: testing\nmx: *.*.x.y\nmax_age: 31557601\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			return
		}
		switch p.Mode {
		case ModeEnforce, ModeTesting:
			if len(p.MX) == 0 {
				t.Fatalf("accepted %s policy without mx", p.Mode)
			}
		case ModeNone:
		default:
			t.Fatalf("accepted mode %q", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > MaxAge {
			t.Fatalf("accepted max_age %d", p.MaxAge)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "version: STSv1\nmode: %s\nmax_age: %d\n", p.Mode, p.MaxAge)
		for _, m := range p.MX {
			if strings.Count(m, "*") > 1 || (strings.Contains(m, "*") && !strings.HasPrefix(m, "*.")) || m != strings.ToLower(m) {
				t.Fatalf("accepted mx pattern %q", m)
			}
			fmt.Fprintf(&b, "mx: %s\n", m)
		}
		q, err := ParsePolicy([]byte(b.String()))
		if err != nil || q.Mode != p.Mode || q.MaxAge != p.MaxAge || !slices.Equal(q.MX, p.MX) {
			t.Fatalf("round trip of %+v: %+v, %v", *p, q, err)
		}
	})
}
