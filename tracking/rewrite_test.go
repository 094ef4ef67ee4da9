package tracking

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden expected.eml files")

type goldenCase struct {
	name     string
	tweak    func(*Params)
	links    []string // URLs sealed into /t/c/ tokens, in order
	stats    Stats
	sameAsIn bool // output must be the input minus the campaign header
}

func goldenCases() []goldenCase {
	return []goldenCase{
		{name: "plain", sameAsIn: true, stats: Stats{Campaign: "flu-2026-q4"}},
		{name: "alternative",
			links: []string{
				"https://clinic.example/book?campaign=flu&src=email",
				"http://clinic.example/hours",
				"https://maps.example.com/?q=clinic",
				"https://clinic.example/area",
			},
			stats: Stats{Campaign: "flu-2026-q4", HTMLParts: 1, LinksRewritten: 4, LinksUntracked: 4, LinksExcluded: 3, Pixels: 1}},
		{name: "qp_html", links: []string{"https://clinic.example/book?a=1&b=2"},
			stats: Stats{Campaign: "flu-2026-q4", HTMLParts: 1, LinksRewritten: 1, Pixels: 1}},
		{name: "base64_html", links: []string{"https://clinic.example/book?id=42", "https://clinic.example/cancel?id=42"},
			stats: Stats{Campaign: "flu-2026-q4", HTMLParts: 1, LinksRewritten: 2, Pixels: 1}},
		{name: "iso8859_html", links: []string{"https://clinic.example/rdv?l=fr"},
			stats: Stats{Campaign: "flu-2026-q4", HTMLParts: 1, LinksRewritten: 1, LinksSkipped: 1, Pixels: 1}},
		{name: "no_body_tag", links: []string{"https://clinic.example/x"},
			stats: Stats{Campaign: "flu-2026-q4", HTMLParts: 1, LinksRewritten: 1, Pixels: 1}},
		{name: "huge_html", tweak: func(p *Params) { p.MaxHTMLBytes = 4096 }, sameAsIn: true,
			stats: Stats{Campaign: "flu-2026-q4", OversizedParts: 1}},
		{name: "attachments", links: []string{"https://clinic.example/info"},
			stats: Stats{Campaign: "flu-2026-q4", HTMLParts: 1, LinksRewritten: 1, Pixels: 1}},
		{name: "lf_honeypot", tweak: func(p *Params) { p.Honeypot = true },
			links: []string{"https://clinic.example/a", "https://clinic.example/b"},
			stats: Stats{Campaign: "flu-2026-q4", HTMLParts: 1, LinksRewritten: 2, Pixels: 1, Honeypots: 1}},
	}
}

func stripCampaign(in []byte) []byte {
	var out []byte
	for _, l := range bytes.SplitAfter(in, []byte("\n")) {
		if !bytes.HasPrefix(bytes.ToLower(l), []byte("x-sealgate-campaign:")) {
			out = append(out, l...)
		}
	}
	return out
}

func TestRewriteGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "rewrite", tc.name)
			in, err := os.ReadFile(filepath.Join(dir, "input.eml"))
			if err != nil {
				t.Fatal(err)
			}
			p := testParams()
			if tc.tweak != nil {
				tc.tweak(&p)
			}
			var out bytes.Buffer
			st, err := Rewrite(&out, bytes.NewReader(in), p)
			if err != nil {
				t.Fatalf("Rewrite: %v", err)
			}
			if st != tc.stats {
				t.Errorf("stats\n got %+v\nwant %+v", st, tc.stats)
			}
			golden := filepath.Join(dir, "expected.eml")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("output differs from %s (run with -update after checking the change)", golden)
			}
			checkRewritten(t, in, out.Bytes(), tc)
			if tc.name == "attachments" {
				// Everything after the HTML part is the input, byte for byte.
				const marker = "\r\n--alt-42--\r\n"
				i, o := bytes.Index(in, []byte(marker)), bytes.Index(out.Bytes(), []byte(marker))
				if i < 0 || o < 0 || !bytes.Equal(in[i:], out.Bytes()[o:]) {
					t.Error("attachments are not byte-for-byte identical")
				}
			}
		})
	}
}

// checkRewritten proves the golden output right independently of the
// golden file: go-message parses both, every part but inline HTML is
// identical, the tokens open to exactly the expected links, and the
// headers are the input's minus X-Sealgate-Campaign.
func checkRewritten(t *testing.T, in, out []byte, tc goldenCase) {
	t.Helper()
	if tc.sameAsIn {
		if !bytes.Equal(out, stripCampaign(in)) {
			t.Fatalf("output is not the input minus the campaign header")
		}
	}
	if bytes.Contains(bytes.ToLower(out), []byte("x-sealgate-campaign")) {
		t.Errorf("campaign header not stripped")
	}
	// Header block identical apart from the campaign header.
	hi := bytes.Index(in, []byte("\n\r\n"))
	if hi < 0 {
		hi = bytes.Index(in, []byte("\n\n"))
	}
	if !bytes.HasPrefix(out, stripCampaign(in[:hi+1])) {
		t.Errorf("top-level header changed")
	}
	li, lo := leaves(t, in), leaves(t, out)
	if len(li) != len(lo) {
		t.Fatalf("parts: input %d, output %d", len(li), len(lo))
	}
	var got []string
	for i := range li {
		if li[i].mediaType != lo[i].mediaType || li[i].disposition != lo[i].disposition {
			t.Errorf("part %d: %s/%s became %s/%s", i, li[i].mediaType, li[i].disposition, lo[i].mediaType, lo[i].disposition)
		}
		inlineHTML := li[i].mediaType == "text/html" && li[i].disposition != "attachment" && !tc.sameAsIn
		if !inlineHTML {
			if !bytes.Equal(li[i].body, lo[i].body) {
				t.Errorf("part %d (%s) changed", i, li[i].mediaType)
			}
			if trackingURLRE.Match(lo[i].body) {
				t.Errorf("part %d (%s) gained tracking URLs", i, li[i].mediaType)
			}
			continue
		}
		body := string(lo[i].body)
		pixels, honeypots := 0, 0
		for _, kt := range trackingTokens(body) {
			tok, err := p0().Keys.Open(kt[1], testNow, 0)
			if err != nil {
				t.Fatalf("token in output does not open: %v", err)
			}
			if tok.MessageID != "Q20261204A" || tok.Recipient != "pat@example.net" || tok.Sender != "news@clinic.example" || tok.Campaign != "flu-2026-q4" || !tok.IssuedAt.Equal(testNow) {
				t.Errorf("token carries %+v", tok)
			}
			switch kt[0] {
			case "c":
				if tok.Kind != TokenClick || tok.LinkIndex != len(got)+1 {
					t.Errorf("click token kind %c index %d, want index %d", tok.Kind, tok.LinkIndex, len(got)+1)
				}
				got = append(got, tok.URL)
			case "o":
				pixels++
				if tok.Kind != TokenOpen {
					t.Errorf("pixel token kind %c", tok.Kind)
				}
				if !strings.Contains(body, `<img src="`+testBase+"/t/o/"+kt[1]+`" width="1" height="1" alt="">`) {
					t.Errorf("pixel markup not as specified")
				}
			case "h":
				honeypots++
				if tok.Kind != TokenHoneypot {
					t.Errorf("honeypot token kind %c", tok.Kind)
				}
			}
		}
		if pixels != 1 {
			t.Errorf("%d pixels in HTML part, want 1", pixels)
		}
		if want := tc.stats.Honeypots; honeypots != want {
			t.Errorf("%d honeypots, want %d", honeypots, want)
		}
		if bi := strings.Index(strings.ToLower(body), "</body>"); bi >= 0 && !strings.Contains(body[:bi], "/t/o/") {
			t.Errorf("pixel is not before </body>")
		}
		// Whatever was not a tracked link is unchanged: removing our
		// insertions and putting the original URLs back gives the input.
		if len(lo[i].body) < len(li[i].body) {
			t.Errorf("HTML part shrank")
		}
	}
	if strings.Join(got, "\n") != strings.Join(tc.links, "\n") {
		t.Errorf("sealed links\n got %q\nwant %q", got, tc.links)
	}
}

func p0() Params { return testParams() }

// Same input, new nonces: different tokens, same meaning.
func TestRewriteTokensAreFresh(t *testing.T) {
	in, err := os.ReadFile("testdata/rewrite/no_body_tag/input.eml")
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	p := testParams()
	p.Rand = nil
	if _, err := Rewrite(&a, bytes.NewReader(in), p); err != nil {
		t.Fatal(err)
	}
	if _, err := Rewrite(&b, bytes.NewReader(in), p); err != nil {
		t.Fatal(err)
	}
	if a.String() == b.String() {
		t.Fatal("two rewrites with crypto/rand produced identical tokens")
	}
}
