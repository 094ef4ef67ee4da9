package tracking

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzRewrite feeds arbitrary messages to Rewrite. Invariants: no error
// or panic; a message Rewrite does not change (no pixel, no link, no
// campaign header) comes out byte for byte; every tracking URL opens and
// every click token holds an http(s) URL.
func FuzzRewrite(f *testing.F) {
	f.Add([]byte("Content-Type: text/html\r\n\r\n<a href=\"https://x.example/\">x</a>"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<a href=3D\"http://x.example/?a=3D1\">x</a>\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		p := testParams()
		p.Honeypot = len(msg)%2 == 0
		p.MaxHTMLBytes = 1 << 16
		var out bytes.Buffer
		st, err := Rewrite(&out, bytes.NewReader(msg), p)
		if err != nil {
			t.Fatalf("Rewrite: %v", err)
		}
		hasCampaign := bytes.Contains(bytes.ToLower(msg), []byte("x-sealgate-campaign"))
		if !st.Changed() && !hasCampaign && !bytes.Equal(out.Bytes(), msg) {
			t.Fatalf("unchanged message altered:\n%q\n%q", msg, out.Bytes())
		}
		if st.Changed() && st.HTMLParts == 0 {
			t.Fatalf("changes without an HTML part: %+v", st)
		}
		for _, kt := range trackingTokens(out.String()) {
			if bytes.Contains(msg, []byte(kt[1])) {
				continue // the input carried it
			}
			tok, err := p.Keys.Open(kt[1], testNow, 0)
			if err != nil {
				// A token cut by QP soft breaks is matched only in part
				// by the regexp; accept only that case.
				if !strings.Contains(out.String(), kt[1]+"=") {
					t.Fatalf("tracking token does not open: %v", err)
				}
				continue
			}
			if tok.Kind == TokenClick && !sealedURLOK(tok.URL) {
				t.Fatalf("sealed a bad URL %q", tok.URL)
			}
		}
	})
}

// FuzzRewriteHTML checks byte preservation of the HTML pass itself: with
// every link excluded, the output is the input plus exactly the pixel.
func FuzzRewriteHTML(f *testing.F) {
	for _, s := range []string{"<html><body><a href=x>y</a></body></html>", "<a href='https://a.example/'", "<!-- </body> --><BODY></BODY>",
		"<script></body></script></body>", "<a\x00href=\"https://a.example/\">", "\xff\xfe<p>caf\xe9</p>", "<textarea></body></textarea>",
		"<!--[if mso]><v:roundrect href=\"https://a.example/\"><![endif]--></body>", "<!--[if !mso]><!-- --><a href=x><!--<![endif]-->", "<!--[if<a href=y-->"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p := testParams()
		p.Exclusions = []string{"*", "*.*"}
		st := Stats{}
		links := 0
		h := htmlRewriter{p: &p, st: &st, links: &links, le: "\r\n"}
		out, err := h.rewrite(src)
		if err != nil {
			t.Fatalf("rewrite: %v", err)
		}
		if st.LinksRewritten != 0 || st.Pixels != 1 {
			t.Fatalf("stats %+v", st)
		}
		i := bytes.Index(out, []byte(`<img src="`+testBase+"/t/o/"))
		if i < 0 {
			t.Fatal("no pixel")
		}
		j := bytes.Index(out[i:], []byte(`alt="">`))
		back := append(bytes.Clone(out[:i]), out[i+j+len(`alt="">`):]...)
		if !bytes.Equal(back, src) {
			t.Fatalf("bytes changed:\n%q\n%q", src, back)
		}
	})
}

// FuzzOpenToken: whatever arrives in a URL path, Open never panics, and
// anything it accepts carries a safe redirect target.
func FuzzOpenToken(f *testing.F) {
	k := testKeys()
	for _, tok := range []Token{sampleToken(), {Kind: TokenOpen, MessageID: "Q", IssuedAt: testNow}} {
		s, err := k.Seal(tok, seededRand())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
	}
	f.Add("")
	f.Add("B")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := k.Open(s, testNow, 0)
		if err != nil {
			return
		}
		if !tok.Kind.valid() || (tok.Kind == TokenClick && !sealedURLOK(tok.URL)) {
			t.Fatalf("opened an unsafe token %+v", tok)
		}
	})
}

// FuzzParseJSONRequest: the offline classifier's line parser never panics
// and what it accepts classifies.
func FuzzParseJSONRequest(f *testing.F) {
	f.Add([]byte(`{"key":"k","time":"2026-12-04T10:00:00Z","delivered_at":"2026-12-04T09:00:00Z","method":"HEAD","target":"click:2","ua":"curl/8","ip":"::ffff:1.2.3.4","headers":{"Via":["a","b"],"X":"y"}}`))
	f.Add([]byte(`{"key":"k","time":"2026-12-04T10:00:00Z","target":"honeypot"}`))
	c, err := NewClassifier(ClassifierOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		kr, err := ParseJSONRequest(line)
		if err != nil {
			return
		}
		res := c.ClassifyBatch([]KeyedRequest{kr, kr})
		for _, r := range res {
			if (r.Verdict == VerdictHuman) != (r.Reason == ReasonHuman) || r.Reason == "" {
				t.Fatalf("result %+v", r)
			}
		}
	})
}
