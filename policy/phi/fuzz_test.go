package phi

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"sort"
	"testing"

	"github.com/sealgate/sealgate/policy/phi/internal/corpusgen"
)

func checkResult(t *testing.T, res *Result) {
	t.Helper()
	if res.Score < 0 || res.Kinds == nil || res.Findings == nil {
		t.Fatalf("bad result %+v", res)
	}
	if !sort.StringsAreSorted(res.Kinds) {
		t.Fatalf("kinds not sorted: %v", res.Kinds)
	}
	for _, f := range res.Findings {
		if f.Count < 1 || f.Kind == "" || f.Where == "" {
			t.Fatalf("bad finding %+v", f)
		}
	}
	if res.PHI && len(res.Kinds) == 0 {
		t.Fatalf("PHI without kinds: %+v", res)
	}
}

// FuzzScan feeds arbitrary bytes as a message: the scanner must not panic,
// must return a well-formed result, must be deterministic, and must stay
// within its limits.
func FuzzScan(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nPatient: Maria Okafor\r\nSSN: 512-44-8821\r\n"))
	f.Add([]byte("Subject: =?utf-8?Q?Jos=C3=A9?=\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>MRN=3A 77=\r\n30915</p>\r\n--b--\r\n"))
	f.Add(corpusgen.Mail(corpusgen.Header{{"Subject", "x"}}, corpusgen.Mixed(corpusgen.Text("see"), corpusgen.Attach("application/zip", "z.zip", corpusgen.Zip([][2]string{{"a.csv", "Name,DOB\nA B,1/2/1950\n"}}))), 1))
	s, err := New(Options{ScanLimit: 1 << 20, MaxParts: 50, MaxDepth: 5})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		a, err := s.Scan(bytes.NewReader(msg))
		if err != nil {
			t.Fatalf("error from an in-memory reader: %v", err)
		}
		checkResult(t, a)
		b, _ := s.Scan(bytes.NewReader(msg))
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("not deterministic: %s vs %s", ja, jb)
		}
	})
}

// FuzzScanText drives the detector directly with arbitrary text.
func FuzzScanText(f *testing.F) {
	for _, s := range []string{
		"SSN: 512-44-8821", "Dear Maria,\nyour HbA1c 7.9%", "MBI 1EG4-TE5-MK73", "Dx: E11.9 CPT 99213",
		"Fecha de nacimiento: 14 de marzo de 1962", "(217) 555-0142 12 Maple Street", "Patient\u2019s name:\u00a0Ana",
		"4111 1111 1111 1111", "DOB 1961-03-04", "Pt: OKAFOR, MARIA", "1-2-3-4-5-6-7-8-9-0-1",
	} {
		f.Add(s)
	}
	s, err := New(Options{Rules: []Rule{{Kind: "x_id", Pattern: `X-[0-9]{3}`, Context: []string{"patient"}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		checkResult(t, s.ScanText(text))
		m := s.newMsg(true)
		m.scanUnit("body", []byte(text))
		for _, c := range m.counts {
			for _, v := range c.masked {
				if len(v) > 4*64 {
					t.Fatalf("masked value too long: %d", len(v))
				}
			}
		}
	})
}

// FuzzHTML, FuzzRTF, FuzzCSV: text extractors must not panic and their
// output stays proportional to their input.
func FuzzHTML(f *testing.F) {
	f.Add([]byte(`<p>Hi</p><div style="display:none">SSN 512-44-8821</div><!-- c --><img alt="x"><table><tr><td>MRN</td><td>1</td></tr></table>`))
	f.Add([]byte("<style>p{}</style><script>var x=1</script>&#58;&amp;"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if out := htmlText(b); len(out) > 4*len(b)+64 {
			t.Fatalf("html output %d for input %d", len(out), len(b))
		}
	})
}

func FuzzRTF(f *testing.F) {
	f.Add(corpusgen.RTF([]string{"Paciente: Inés Romero", "Medicare ID: 1EG4-TE5-MK73"}))
	f.Add([]byte(`{\rtf1{\*\x y}\u-3913?\'e9\par{\fonttbl{\f0 A;}}text}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if out := rtfText(b); len(out) > 4*len(b)+64 {
			t.Fatalf("rtf output %d for input %d", len(out), len(b))
		}
	})
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("Name,SSN\nMaria,512-44-8821\n"))
	f.Add([]byte("a\tb\n\"x\ty\"\t1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, sep := range []rune{',', '\t'} {
			if out := tableText(b, sep); len(out) > 4*len(b)+8192 {
				t.Fatalf("table output %d for input %d", len(out), len(b))
			}
		}
	})
}

// FuzzPDF: the PDF extractor must not panic and must respect its budget.
func FuzzPDF(f *testing.F) {
	f.Add(corpusgen.PDF([]string{"Patient: Maria Okafor", "MRN 7730915"}, true))
	f.Add(corpusgen.PDF([]string{"(nested (parens)) \\\\ <hex>"}, false))
	f.Add(corpusgen.ScannedPDF())
	f.Add(corpusgen.EncryptedPDF())
	f.Add(cidPDF("Patient: Rosa Delgado", true))
	f.Add([]byte("1 beginbfrange <0010> <0012> <0041> <0020> <0021> [<0061> <0062>] endbfrange begincmap BT <0010> Tj ET stream"))
	f.Fuzz(func(t *testing.T, b []byte) {
		const budget = 1 << 20
		if out, used, ok := pdfText(b, budget); used > budget || (ok && len(out) > 4*(budget+len(b))) {
			t.Fatalf("pdf output %d", len(out))
		}
	})
}

// FuzzZip: archives (plain zip, DOCX, XLSX) through the message walker.
func FuzzZip(f *testing.F) {
	f.Add(corpusgen.Zip([][2]string{{"a.txt", "SSN: 512-44-8821"}, {"b/c.csv", "Name,MRN\nA,7730915\n"}}))
	f.Add(corpusgen.DOCX([]string{"Patient: Maria Okafor", "MRN:\t7730915"}))
	f.Add(corpusgen.XLSX([][]string{{"Name", "SSN"}, {"Maria Okafor", "512-44-8821"}}))
	f.Add(corpusgen.EncryptedZip("a.csv"))
	s, err := New(Options{ScanLimit: 1 << 20, MaxParts: 20, MaxDepth: 4})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err != nil {
			return
		}
		m := s.newMsg(false)
		m.zipFile("attachment:f.zip", b, 0)
		if m.budget < 0 {
			t.Fatalf("budget overdrawn: %d", m.budget)
		}
		res := m.result()
		checkResult(t, &res)
	})
}
