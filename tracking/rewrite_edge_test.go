package tracking

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func rewriteString(t *testing.T, msg string, tweak func(*Params)) (string, Stats) {
	t.Helper()
	p := testParams()
	if tweak != nil {
		tweak(&p)
	}
	var out bytes.Buffer
	st, err := Rewrite(&out, strings.NewReader(msg), p)
	if err != nil {
		t.Fatalf("Rewrite: %v", err)
	}
	return out.String(), st
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestRewriteKeepsLinesUnder998(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 12; i++ { // one 900-octet line with 12 links
		fmt.Fprintf(&b, `<a href="https://clinic.example/%d">L%d</a>`, i, i)
	}
	line := b.String() + strings.Repeat("x", 900-b.Len())
	msg := crlf("Content-Type: text/html\n\n<html><body>" + line + "</body></html>\n")
	out, st := rewriteString(t, msg, nil)
	if st.LinksRewritten != 12 {
		t.Fatalf("rewrote %d", st.LinksRewritten)
	}
	for i, l := range strings.Split(out, "\r\n") {
		if len(l) > 998 {
			t.Errorf("line %d is %d octets", i, len(l))
		}
	}
	// Breaks go inside tags only: the text content is intact.
	if !strings.Contains(out, strings.Repeat("x", 900-b.Len())+"</body>") && !strings.Contains(out, strings.Repeat("x", 100)) {
		t.Error("text content split")
	}
}

func TestRewriteDefaultLimit(t *testing.T) {
	big := strings.Repeat(`<p><a href="https://clinic.example/">x</a></p>`+"\r\n", (DefaultMaxHTMLBytes/48)+10)
	msg := crlf("Content-Type: multipart/alternative; boundary=z\n\n--z\nContent-Type: text/html\n\n") + big + crlf("--z--\n")
	out, st := rewriteString(t, msg, nil)
	if st.OversizedParts != 1 || st.LinksRewritten != 0 || out != msg {
		t.Fatalf("over-limit part: %+v, unchanged=%v", st, out == msg)
	}
	// Base64 over the limit once decoded is also untouched.
	small := crlf("Content-Type: text/html\nContent-Transfer-Encoding: base64\n\nPGEgaHJlZj0iaHR0cHM6Ly9jbGluaWMuZXhhbXBsZS8iPng8L2E+\n")
	out, st = rewriteString(t, small, func(p *Params) { p.MaxHTMLBytes = 10 })
	if st.OversizedParts != 1 || out != small {
		t.Errorf("decoded over-limit: %+v", st)
	}
}

func TestRewriteMalformedAndEdgeCases(t *testing.T) {
	cases := []struct {
		name, msg string
		links     int
		same      bool
	}{
		{"headers only", "From: a@b\r\nSubject: x\r\n", 0, true},
		{"empty", "", 0, true},
		{"no blank line before EOF", "Content-Type: text/html\r\n", 0, true},
		{"unterminated multipart", crlf("Content-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: text/html\n\n<a href='https://clinic.example/u'>u</a>\n"), 1, false},
		{"boundary prefix of inner boundary", crlf("Content-Type: multipart/mixed; boundary=ab\n\n--ab\nContent-Type: multipart/alternative; boundary=abc\n\n--abc\nContent-Type: text/html\n\n<a href=\"https://clinic.example/n\">n</a>\n--abc--\n--ab--\n"), 1, false},
		{"boundary with transport padding", crlf("Content-Type: multipart/mixed; boundary=q\n\n--q  \nContent-Type: text/html\n\n<a href=\"https://clinic.example/p\">p</a>\n--q-- \n"), 1, false},
		{"multipart without boundary", crlf("Content-Type: multipart/mixed\n\n<a href=\"https://clinic.example/\">x</a>\n"), 0, true},
		{"unknown transfer encoding", crlf("Content-Type: text/html\nContent-Transfer-Encoding: x-uuencode\n\n<a href=\"https://clinic.example/\">x</a>\n"), 0, true},
		{"bad base64", crlf("Content-Type: text/html\nContent-Transfer-Encoding: base64\n\n!!!!\n"), 0, true},
		{"attached html", crlf("Content-Type: text/html\nContent-Disposition: attachment; filename=a.html\n\n<a href=\"https://clinic.example/\">x</a>\n"), 0, true},
		{"folded content type", crlf("Content-Type: text/html;\n charset=utf-8\n\n<a href=\"https://clinic.example/f\">f</a>\n"), 1, false},
		{"uppercase tags and unquoted", crlf("Content-Type: text/html\n\n<A Href=https://clinic.example/U>u</A>\n"), 1, false},
		{"entity-encoded href", crlf("Content-Type: text/html\n\n<a href=\"&#104;ttps://clinic.example/e\">e</a>\n"), 1, false},
		{"whitespace in href", crlf("Content-Type: text/html\n\n<a href=\"  https://clinic.example/w \">w</a>\n"), 1, false},
		{"javascript href", crlf("Content-Type: text/html\n\n<a href=\"javascript:alert(1)\">j</a>\n"), 0, false},
		{"unclosed tag at EOF", crlf("Content-Type: text/html\n\n<a href=\"https://clinic.example/"), 0, false},
		{"already tracked", crlf("Content-Type: text/html\n\n<a href=\"https://gw.example.com/t/c/abc\">t</a>\n"), 0, false},
		{"excluded by host glob", crlf("Content-Type: text/html\n\n<a href=\"https://x.portal.clinic.example/\">p</a><a href=\"https://portal.clinic.example/\">p</a>\n"), 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, st := rewriteString(t, tc.msg, func(p *Params) { p.Exclusions = []string{"*.portal.clinic.example"} })
			if st.LinksRewritten != tc.links {
				t.Errorf("links %d, want %d (%+v)", st.LinksRewritten, tc.links, st)
			}
			if tc.same && out != tc.msg {
				t.Errorf("changed:\n%q\n%q", tc.msg, out)
			}
			if !tc.same && tc.links > 0 {
				for _, kt := range trackingTokens(out) {
					if _, err := testKeys().Open(kt[1], testNow, 0); err != nil {
						t.Errorf("bad token: %v", err)
					}
				}
			}
		})
	}
}

func TestRewriteCampaign(t *testing.T) {
	msg := crlf("X-Sealgate-Campaign: from-header\nContent-Type: text/plain\n\nhi\n")
	_, st := rewriteString(t, msg, nil)
	if st.Campaign != "from-header" {
		t.Errorf("campaign %q", st.Campaign)
	}
	out, st := rewriteString(t, msg, func(p *Params) { p.Campaign = "from-params" })
	if st.Campaign != "from-params" || strings.Contains(out, "from-header") {
		t.Errorf("campaign %q, output %q", st.Campaign, out)
	}
	for in, want := range map[string]string{
		" spring-2027 ":          "spring-2027",
		"a.b_c:d-1":              "a.b_c:d-1",
		"Pat Doe diabetes":       "",
		"x\r\nBcc: evil@example": "",
		strings.Repeat("a", 65):  "",
		"<script>":               "",
		"":                       "",
	} {
		if got := CampaignFromHeader(in); got != want {
			t.Errorf("CampaignFromHeader(%q) = %q, want %q", in, got, want)
		}
	}
	// Not stripped from inner parts: only the message header is ours.
	inner := crlf("Content-Type: multipart/mixed; boundary=q\n\n--q\nX-Sealgate-Campaign: inner\nContent-Type: text/plain\n\nx\n--q--\n")
	out, _ = rewriteString(t, inner, nil)
	if out != inner {
		t.Error("inner part header touched")
	}
}

func TestRewriteHugeHeaderPassesThrough(t *testing.T) {
	msg := "X-Big: " + strings.Repeat("a", maxHeaderBlock+10) + "\r\nContent-Type: text/html\r\n\r\n<a href=\"https://clinic.example/\">x</a>\r\n"
	out, st := rewriteString(t, msg, nil)
	if !st.Passthrough || out != msg {
		t.Errorf("passthrough %v, unchanged %v", st.Passthrough, out == msg)
	}
}

func TestRewriteRejectsBadParams(t *testing.T) {
	for name, tweak := range map[string]func(*Params){
		"no key":    func(p *Params) { p.Keys = Keys{} },
		"relative":  func(p *Params) { p.BaseURL = "/t" },
		"ftp":       func(p *Params) { p.BaseURL = "ftp://gw.example.com" },
		"bad glob":  func(p *Params) { p.Exclusions = []string{"a[b"} },
		"empty exc": func(p *Params) { p.Exclusions = []string{""} },
	} {
		p := testParams()
		tweak(&p)
		if _, err := Rewrite(&bytes.Buffer{}, strings.NewReader("x"), p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRewriteLeavesNonASCIICharsetsAlone(t *testing.T) {
	utf16 := "\xfe\xff\x00<\x00a\x00 \x00h\x00r\x00e\x00f\x00=\x00\"\x00h\x00t\x00t\x00p\x00s\x00:\x00/\x00/\x00x\x00\"\x00>"
	for _, msg := range []string{
		crlf("Content-Type: text/html; charset=UTF-16\nContent-Transfer-Encoding: binary\n\n") + utf16 + "\r\n",
		crlf("Content-Type: text/html; charset=\"utf-7\"\n\n<a href=\"https://clinic.example/\">x</a>\n"),
		crlf("Content-Type: text/html\nContent-Transfer-Encoding: binary\n\n") + utf16 + "\r\n", // BOM, no label
	} {
		out, st := rewriteString(t, msg, nil)
		if out != msg || st.CharsetParts != 1 || st.Changed() {
			t.Errorf("%q: changed=%v stats %+v", msg, out != msg, st)
		}
	}
}

func TestRewritePixelKeepsLineLimit(t *testing.T) {
	line := strings.Repeat("y", 700) + "</body>" + strings.Repeat("z", 280)
	msg := crlf("Content-Type: text/html\n\n<html><body>\n" + line + "\n")
	out, st := rewriteString(t, msg, func(p *Params) { p.Honeypot = true })
	if st.Pixels != 1 || st.Honeypots != 1 {
		t.Fatalf("%+v", st)
	}
	for i, l := range strings.Split(out, "\r\n") {
		if len(l) > 998 {
			t.Errorf("line %d is %d octets", i, len(l))
		}
	}
	if !strings.Contains(out, strings.Repeat("y", 700)) || !strings.Contains(out, "</body>"+strings.Repeat("z", 280)) {
		t.Error("text content split")
	}
}

// A message stored with bare LF line endings keeps them in re-encoded
// quoted-printable and base64 parts: no CR appears.
func TestRewriteKeepsLFLineEndings(t *testing.T) {
	long := strings.Repeat("word ", 40)
	for _, cte := range []string{"quoted-printable", "base64"} {
		body := "<html><body><p>" + long + "</p>\n<a href=\"https://clinic.example/lf\">x</a></body></html>\n"
		if cte == "base64" {
			body = string(encodeBase64([]byte(body), "\n")) + "\n"
		} else {
			body = string(encodeQP([]byte(body), "\n")) + "\n"
		}
		msg := "Content-Type: text/html\nContent-Transfer-Encoding: " + cte + "\n\n" + body
		out, st := rewriteString(t, msg, nil)
		if st.LinksRewritten != 1 {
			t.Fatalf("%s: %+v", cte, st)
		}
		if strings.Contains(out, "\r") {
			t.Errorf("%s: CR introduced into an LF message", cte)
		}
		for i, l := range strings.Split(out, "\n") {
			if len(l) > 76 && i > 2 {
				t.Errorf("%s: encoded line %d is %d long", cte, i, len(l))
			}
		}
	}
}

// Outlook's VML "bulletproof" button lives in a conditional comment; its
// href is tracked too, and nothing else in comments changes.
func TestRewriteOutlookConditionalComments(t *testing.T) {
	body := `<html><body>
<!--[if mso]>
<v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" href="https://clinic.example/book" style="height:40px;width:200px" arcsize="10%" fillcolor="#003366">
<center style="color:#ffffff">Schedule appointment</center>
</v:roundrect>
<![endif]-->
<!--[if !mso]><!-- --><a href="https://clinic.example/book">Schedule appointment</a><!--<![endif]-->
<!-- plain comment <a href="https://clinic.example/old">old</a> </body> -->
</body></html>
`
	msg := crlf("Content-Type: text/html\n\n" + body)
	out, st := rewriteString(t, msg, nil)
	if st.LinksRewritten != 2 || st.Pixels != 1 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(out, `<v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" href="`+testBase+`/t/c/`) {
		t.Error("VML button not tracked")
	}
	if !strings.Contains(out, `<!-- plain comment <a href="https://clinic.example/old">old</a> </body> -->`) {
		t.Error("ordinary comment changed")
	}
	if i, j := strings.Index(out, "/t/o/"), strings.Index(out, "plain comment"); i < j {
		t.Error("pixel placed at a </body> inside a comment")
	}
	if !strings.Contains(out, "<![endif]-->") || !strings.Contains(out, "<!--[if !mso]><!-- -->") {
		t.Error("conditional comment markers changed")
	}
}
