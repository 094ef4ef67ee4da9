package phi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sealgate/sealgate/policy/phi/internal/corpusgen"
)

func mail(subject string, p corpusgen.Part) []byte {
	return corpusgen.Mail(corpusgen.Header{{"From", "a@example.com"}, {"To", "b@example.org"}, {"Subject", corpusgen.EncodeSubject(subject)}}, p, 1)
}

func scanBytes(t *testing.T, s *Scanner, b []byte) *Result {
	t.Helper()
	res, err := s.Scan(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func hasFinding(res *Result, kind, where string) bool {
	for _, f := range res.Findings {
		if f.Kind == kind && f.Where == where {
			return true
		}
	}
	return false
}

func TestScanWhere(t *testing.T) {
	s := newScanner(t, Options{})
	const phiText = "Patient: Maria Okafor\nSSN: 512-44-8821\n"
	tests := []struct {
		name  string
		msg   []byte
		kind  string
		where string
	}{
		{"subject only", mail("SSN 512-44-8821 enrollment", corpusgen.Text("see portal")), KindSSN, "subject"},
		{"name and procedure only in the subject", mail("Re: Grace Holloway - MRI results", corpusgen.Text("Reviewed, start PT.")), KindPatientName, "subject"},
		{"rfc2047 subject", mail("Paciente: José Pérez — resultados", corpusgen.Text("ok")), KindPatientName, "subject"},
		{"plain body", mail("x", corpusgen.Text(phiText)), KindSSN, "body"},
		{"base64 body", mail("x", corpusgen.Part{Type: "text/plain; charset=utf-8", Encoding: "base64", Body: []byte(phiText)}), KindSSN, "body"},
		{"qp soft break inside the number", mail("x", corpusgen.Part{Type: "text/plain", Encoding: "quoted-printable", RawBody: true, Body: []byte("SSN: 512-4=\r\n4-8821\r\n")}), KindSSN, "body"},
		{"latin1 charset", mail("x", corpusgen.Part{Type: "text/plain; charset=iso-8859-1", Encoding: "quoted-printable", Body: []byte("Paciente: In\xe9s Romero\nDiagn\xf3stico: hipertensi\xf3n\n")}), KindPatientName, "body"},
		{"html hidden text", mail("x", corpusgen.HTML(`<p>Hello</p><div style="display:none">SSN&#58; 512&#45;44&#45;8821</div>`)), KindSSN, "html"},
		{"html comment", mail("x", corpusgen.HTML(`<p>Hello</p><!-- SSN 512-44-8821 -->`)), KindSSN, "html"},
		{"csv attachment", mail("x", corpusgen.Mixed(corpusgen.Text("see file"), corpusgen.Attach("text/csv", "list.csv", []byte("Name,SSN\nMaria Okafor,512-44-8821\n")))), KindSSN, "attachment:list.csv"},
		{"tsv attachment", mail("x", corpusgen.Mixed(corpusgen.Text("see file"), corpusgen.Attach("text/tab-separated-values", "list.tsv", []byte("Name\tMRN\nMaria Okafor\t7730915\n")))), KindMRN, "attachment:list.tsv"},
		{"docx", mail("x", corpusgen.Mixed(corpusgen.Text("see file"), corpusgen.Attach("application/octet-stream", "a.docx", corpusgen.DOCX([]string{"Intake", "MRN:\t7730915"})))), KindMRN, "attachment:a.docx"},
		{"xlsx", mail("x", corpusgen.Mixed(corpusgen.Text("see file"), corpusgen.Attach("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "r.xlsx", corpusgen.XLSX([][]string{{"Name", "Medical Record Number"}, {"Maria Okafor", "7730915"}})))), KindMRN, "attachment:r.xlsx"},
		{"pdf flate", mail("x", corpusgen.Mixed(corpusgen.Text("see file"), corpusgen.Attach("application/pdf", "v.pdf", corpusgen.PDF([]string{"Patient: Maria Okafor", "Medical Record Number: 7730915"}, true)))), KindMRN, "attachment:v.pdf"},
		{"pdf plain", mail("x", corpusgen.Mixed(corpusgen.Text("see file"), corpusgen.Attach("application/pdf", "v.pdf", corpusgen.PDF([]string{"SSN (512-44-8821)"}, false)))), KindSSN, "attachment:v.pdf"},
		{"rtf", mail("x", corpusgen.Mixed(corpusgen.Text("see file"), corpusgen.Attach("application/rtf", "n.rtf", corpusgen.RTF([]string{"Paciente: Inés Romero", "Medicare ID: 1EG4-TE5-MK73"})))), KindMBI, "attachment:n.rtf"},
		{"xlsx embedded in docx", mail("x", corpusgen.Mixed(corpusgen.Text("see file"), corpusgen.Attach("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "d.docx", corpusgen.Zip([][2]string{{"[Content_Types].xml", "<Types/>"}, {"word/document.xml", "<w:document><w:body><w:p><w:r><w:t>See table</w:t></w:r></w:p></w:body></w:document>"}, {"word/embeddings/Sheet1.xlsx", string(corpusgen.XLSX([][]string{{"Name", "SSN"}, {"Maria Okafor", "512-44-8821"}}))}})))), KindSSN, "attachment:d.docx"},
		{"zip", mail("x", corpusgen.Mixed(corpusgen.Text("see file"), corpusgen.Attach("application/zip", "z.zip", corpusgen.Zip([][2]string{{"dir/a.txt", "SSN: 512-44-8821"}})))), KindSSN, "attachment:z.zip"},
		{"nested message", mail("Fwd", corpusgen.Mixed(corpusgen.Text("fyi"), corpusgen.Part{Type: "message/rfc822", Disposition: "attachment", Filename: "fw.eml", Body: mail("intake", corpusgen.Text(phiText))})), KindSSN, "attachment:fw.eml"},
		{"nested message subject", mail("Fwd", corpusgen.Mixed(corpusgen.Text("fyi"), corpusgen.Part{Type: "message/rfc822", Body: mail("MRN 7730915", corpusgen.Text("hi"))})), KindMRN, "attachment:message.eml"},
		{"encrypted zip", mail("x", corpusgen.Mixed(corpusgen.Text("pw by phone"), corpusgen.Attach("application/zip", "e.zip", corpusgen.EncryptedZip("a.csv")))), KindUnscannable, "attachment:e.zip"},
		{"encrypted pdf", mail("x", corpusgen.Mixed(corpusgen.Text("see"), corpusgen.Attach("application/pdf", "e.pdf", corpusgen.EncryptedPDF()))), KindUnscannable, "attachment:e.pdf"},
		{"scanned pdf", mail("x", corpusgen.Mixed(corpusgen.Text("see"), corpusgen.Attach("application/pdf", "s.pdf", corpusgen.ScannedPDF()))), KindUnscannable, "attachment:s.pdf"},
		{"legacy office", mail("x", corpusgen.Mixed(corpusgen.Text("see"), corpusgen.Attach("application/msword", "l.doc", append([]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), make([]byte, 64)...)))), KindUnscannable, "attachment:l.doc"},
		{"attached image", mail("x", corpusgen.Mixed(corpusgen.Text("see"), corpusgen.Attach("image/jpeg", "p.jpg", []byte("\xff\xd8\xff")))), KindUnscannable, "attachment:p.jpg"},
		{"pgp encrypted", mail("x", corpusgen.Part{Type: "multipart/encrypted; protocol=\"application/pgp-encrypted\"", Parts: []corpusgen.Part{{Type: "application/pgp-encrypted", Body: []byte("Version: 1")}, {Type: "application/octet-stream", Body: []byte("-----BEGIN PGP MESSAGE-----\n\x00\x01")}}}), KindUnscannable, "body"},
	}
	for _, tc := range tests {
		res := scanBytes(t, s, tc.msg)
		if !hasFinding(res, tc.kind, tc.where) {
			t.Errorf("%s: want %s in %s, got %+v", tc.name, tc.kind, tc.where, res.Findings)
		}
		if !res.PHI {
			t.Errorf("%s: not PHI: %+v", tc.name, res)
		}
	}
}

func TestScanCleanParts(t *testing.T) {
	s := newScanner(t, Options{})
	tests := []struct {
		name string
		msg  []byte
	}{
		{"inline logo", mail("x", corpusgen.Part{Type: "multipart/related", Parts: []corpusgen.Part{corpusgen.HTML(`<p>Holiday hours</p><img src="cid:l">`), {Type: "image/png", Encoding: "base64", Disposition: "inline", Body: []byte("\x89PNG")}}})},
		{"signature", mail("x", corpusgen.Part{Type: "multipart/signed; protocol=\"application/pkcs7-signature\"", Parts: []corpusgen.Part{corpusgen.Text("policy update"), {Type: "application/pkcs7-signature", Encoding: "base64", Disposition: "attachment", Filename: "smime.p7s", Body: []byte{0x30, 0x80, 1, 2}}}})},
		{"clean pdf", mail("x", corpusgen.Mixed(corpusgen.Text("minutes"), corpusgen.Attach("application/pdf", "m.pdf", corpusgen.PDF([]string{"Parking lot approved"}, true))))},
		{"clean xlsx", mail("x", corpusgen.Mixed(corpusgen.Text("stock"), corpusgen.Attach("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "s.xlsx", corpusgen.XLSX([][]string{{"SKU", "Qty"}, {"GL-44120", "400"}}))))},
		{"octet-stream text", mail("x", corpusgen.Mixed(corpusgen.Text("log"), corpusgen.Attach("application/octet-stream", "log.dat", []byte("build ok\nall tests passed\n"))))},
	}
	for _, tc := range tests {
		res := scanBytes(t, s, tc.msg)
		if res.PHI || len(res.Findings) != 0 {
			t.Errorf("%s: want clean, got %+v", tc.name, res)
		}
	}
	// Options turn images into unscannable or ignore attached ones.
	inline := tests[0].msg
	if res := scanBytes(t, newScanner(t, Options{InlineImagesUnscannable: true}), inline); !slices.Contains(res.Kinds, KindUnscannable) {
		t.Errorf("InlineImagesUnscannable: %+v", res)
	}
	att := mail("x", corpusgen.Mixed(corpusgen.Text("see"), corpusgen.Attach("image/jpeg", "p.jpg", []byte("\xff\xd8\xff"))))
	if res := scanBytes(t, newScanner(t, Options{SkipImageAttachments: true}), att); res.PHI {
		t.Errorf("SkipImageAttachments: %+v", res)
	}
}

func TestHideAttachmentNames(t *testing.T) {
	s := newScanner(t, Options{HideAttachmentNames: true})
	msg := mail("x", corpusgen.Mixed(corpusgen.Text("see"), corpusgen.Attach("text/plain", "Maria_Okafor_labs.txt", []byte("MRN: 7730915"))))
	res := scanBytes(t, s, msg)
	for _, f := range res.Findings {
		if strings.Contains(f.Where, "Okafor") {
			t.Errorf("attachment name leaked: %+v", f)
		}
	}
	if !hasFinding(res, KindMRN, "attachment:#1") {
		t.Errorf("want mrn in attachment:#1, got %+v", res.Findings)
	}
}

// countingReader counts how many bytes the scanner pulled.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestScanLimitIsUnscannableAndBounded(t *testing.T) {
	s := newScanner(t, Options{ScanLimit: 64 << 10})
	big := strings.Repeat("The quarterly budget review moved to Thursday.\n", 40000) // ~1.9 MB
	msg := mail("x", corpusgen.Mixed(corpusgen.Text("hello"), corpusgen.Attach("text/plain", "big.txt", []byte(big)), corpusgen.Text("SSN: 512-44-8821")))
	cr := &countingReader{r: bytes.NewReader(msg)}
	res, err := s.Scan(cr)
	if err != nil {
		t.Fatal(err)
	}
	if !hasFinding(res, KindUnscannable, "attachment:big.txt") || !res.PHI {
		t.Errorf("over-limit part not unscannable: %+v", res)
	}
	if cr.n > int64(len(msg))/2 {
		t.Errorf("scanner read %d of %d bytes after the limit was reached", cr.n, len(msg))
	}
	// A zip bomb: small compressed, large decompressed.
	bomb := corpusgen.Zip([][2]string{{"a.txt", strings.Repeat("0", 4<<20)}})
	res = scanBytes(t, s, mail("x", corpusgen.Mixed(corpusgen.Text("see"), corpusgen.Attach("application/zip", "b.zip", bomb))))
	if !hasFinding(res, KindUnscannable, "attachment:b.zip") {
		t.Errorf("zip bomb not unscannable: %+v", res)
	}
}

func TestMaxPartsAndDepth(t *testing.T) {
	s := newScanner(t, Options{MaxParts: 5, MaxDepth: 3})
	var parts []corpusgen.Part
	for i := 0; i < 10; i++ {
		parts = append(parts, corpusgen.Text(fmt.Sprintf("part %d", i)))
	}
	if res := scanBytes(t, s, mail("x", corpusgen.Mixed(parts...))); !slices.Contains(res.Kinds, KindUnscannable) {
		t.Errorf("too many parts not unscannable: %+v", res)
	}
	p := corpusgen.Text("deep")
	for i := 0; i < 6; i++ {
		p = corpusgen.Mixed(p)
	}
	if res := scanBytes(t, s, mail("x", p)); !slices.Contains(res.Kinds, KindUnscannable) {
		t.Errorf("too deep not unscannable: %+v", res)
	}
}

func TestCorruptInput(t *testing.T) {
	s := newScanner(t, Options{})
	for name, msg := range map[string]string{
		"corrupt base64":    "Subject: x\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n%%%not base64%%%\r\n",
		"unknown encoding":  "Subject: x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a\r\n",
		"broken header":     "this is not a header\r\n\r\nbody",
		"missing boundary":  "Subject: x\r\nContent-Type: multipart/mixed; boundary=zzz\r\n\r\nno parts here",
		"binary attachment": "Subject: x\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=x.bin\r\n\r\n\x00\x01\x02\xff\xfe",
	} {
		res, err := s.Scan(strings.NewReader(msg))
		if err != nil {
			t.Errorf("%s: error %v, want an unscannable finding", name, err)
			continue
		}
		if !slices.Contains(res.Kinds, KindUnscannable) || !res.PHI {
			t.Errorf("%s: want unscannable, got %+v", name, res)
		}
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n > 0 {
		f.n--
		return copy(p, "Subject: x\r\n"), nil
	}
	return 0, errors.New("disk on fire")
}

func TestReaderErrorIsReturned(t *testing.T) {
	s := newScanner(t, Options{})
	if _, err := s.Scan(&failingReader{n: 2}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("want reader error, got %v", err)
	}
}

func TestConcurrentScans(t *testing.T) {
	s := newScanner(t, Options{})
	pos := mail("x", corpusgen.Text("Patient: Maria Okafor\nSSN: 512-44-8821\n"))
	neg := mail("x", corpusgen.Text("Order 512-44-8821 shipped\n"))
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				a, _ := s.Scan(bytes.NewReader(pos))
				b, _ := s.Scan(bytes.NewReader(neg))
				if !a.PHI || b.PHI {
					errs <- fmt.Sprintf("pos %v neg %v", a.PHI, b.PHI)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestResultJSONShape(t *testing.T) {
	s := newScanner(t, Options{})
	res := scanBytes(t, s, mail("hello", corpusgen.Text("nothing here")))
	if res.Kinds == nil || res.Findings == nil {
		t.Errorf("empty kinds/findings must be [] not null: %+v", res)
	}
}
