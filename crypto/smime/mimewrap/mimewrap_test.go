package mimewrap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func split(t *testing.T, msg string, opts Options) (outer, inner string) {
	t.Helper()
	m, err := Split(bufio.NewReader(strings.NewReader(msg)), opts)
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	var o, i bytes.Buffer
	WriteFields(&o, m.Outer)
	if err := m.WriteInner(&i); err != nil {
		t.Fatal(err)
	}
	return o.String(), i.String()
}

func TestSplitKeepsFoldingAndOrder(t *testing.T) {
	msg := "From: a@example.com\n" +
		"Subject: folded\n\tsecond line\n" +
		"X-Custom: kept\n" +
		"DKIM-Signature: v=1; b=old\n" +
		"Content-Type: text/plain;\n charset=utf-8\n" +
		"\n" +
		"body line\nlast"
	outer, inner := split(t, msg, Options{})
	wantOuter := "From: a@example.com\r\nSubject: folded\r\n\tsecond line\r\nX-Custom: kept\r\nMIME-Version: 1.0\r\n"
	if outer != wantOuter {
		t.Errorf("outer = %q\nwant    %q", outer, wantOuter)
	}
	wantInner := "Content-Type: text/plain;\r\n charset=utf-8\r\n\r\nbody line\r\nlast"
	if inner != wantInner {
		t.Errorf("inner = %q\nwant    %q", inner, wantInner)
	}
}

func TestSplitHideSubject(t *testing.T) {
	msg := "Received: x\r\nFrom: a@example.com\r\nSubject: secret\r\nThread-Topic: secret\r\nX-Mailer: y\r\n" +
		"To: b@example.org\r\nBcc: c@example.net\r\nMIME-Version: 1.0\r\n\r\nhi\r\n"
	outer, inner := split(t, msg, Options{HideSubject: true, GenericSubject: "Encrypted"})
	if strings.Contains(outer, "secret") || strings.Contains(outer, "X-Mailer") || strings.Contains(outer, "Bcc") {
		t.Errorf("outer leaks: %q", outer)
	}
	if outer != "Received: x\r\nFrom: a@example.com\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\nSubject: Encrypted\r\n" {
		t.Errorf("outer = %q", outer)
	}
	want := "From: a@example.com\r\nSubject: secret\r\nThread-Topic: secret\r\nX-Mailer: y\r\nTo: b@example.org\r\n" +
		"Content-Type: text/plain; charset=us-ascii; protected-headers=\"v1\"\r\n\r\nhi\r\n"
	if inner != want {
		t.Errorf("inner = %q\nwant    %q", inner, want)
	}
}

func TestSplitErrors(t *testing.T) {
	for name, msg := range map[string]string{
		"no colon":            "From a@example.com\r\n\r\nbody",
		"leading fold":        " folded\r\nFrom: a\r\n\r\n",
		"space in field name": "Bad Name: x\r\n\r\n",
		"empty name":          ": x\r\n\r\n",
	} {
		if _, err := Split(bufio.NewReader(strings.NewReader(msg)), Options{}); !errors.Is(err, ErrMalformedHeader) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	big := "X-Big: " + strings.Repeat("a", 2000) + "\r\n\r\n"
	if _, err := Split(bufio.NewReader(strings.NewReader(big)), Options{MaxHeaderBytes: 1000}); !errors.Is(err, ErrHeaderTooLarge) {
		t.Errorf("large header: err = %v", err)
	}
	// Header only, no blank line: an empty body.
	_, inner := split(t, "From: a@example.com\r\nSubject: s", Options{})
	if inner != "Content-Type: text/plain; charset=us-ascii\r\n\r\n" {
		t.Errorf("header-only inner = %q", inner)
	}
}

func TestCRLFWriter(t *testing.T) {
	for in, want := range map[string]string{
		"a\nb":         "a\r\nb",
		"a\r\nb\r\n":   "a\r\nb\r\n",
		"a\rb":         "a\r\nb",
		"a\r":          "a\r\n",
		"\r\r\n\n":     "\r\n\r\n\r\n",
		"no newline":   "no newline",
		"mixed\r\n\nx": "mixed\r\n\r\nx",
	} {
		// Byte by byte, so that a CR at the end of one Write meets the LF
		// at the start of the next.
		var out bytes.Buffer
		w := NewCRLFWriter(&out)
		for i := range len(in) {
			w.Write([]byte{in[i]})
		}
		w.Close()
		if out.String() != want {
			t.Errorf("%q -> %q, want %q", in, out.String(), want)
		}
	}
}

func TestLimitReaderFailsInsteadOfTruncating(t *testing.T) {
	b, err := io.ReadAll(LimitReader(strings.NewReader("12345"), 5))
	if err != nil || string(b) != "12345" {
		t.Errorf("at limit: %q %v", b, err)
	}
	if _, err := io.ReadAll(LimitReader(strings.NewReader("123456"), 5)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over limit: err = %v", err)
	}
}

func TestBase64WriterLines(t *testing.T) {
	var out bytes.Buffer
	w := NewBase64Writer(&out)
	w.Write(bytes.Repeat([]byte{0xAB}, 1000))
	w.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\r\n"), "\r\n")
	for i, l := range lines {
		if len(l) > 76 || (i < len(lines)-1 && len(l) != 76) {
			t.Fatalf("line %d: %d chars", i, len(l))
		}
	}
	if !strings.HasSuffix(out.String(), "\r\n") {
		t.Fatal("no final CRLF")
	}
}

// FuzzSplit: the header splitter never panics, and whatever it accepts
// round-trips to an inner entity that starts with a header.
func FuzzSplit(f *testing.F) {
	f.Add([]byte("From: a@example.com\r\nSubject: s\r\nContent-Type: text/plain\r\n\r\nbody"), true)
	f.Add([]byte("Subject: x\n\tfold\n\nbody\rmore"), false)
	f.Fuzz(func(t *testing.T, msg []byte, hide bool) {
		m, err := Split(bufio.NewReader(bytes.NewReader(msg)), Options{HideSubject: hide, MaxHeaderBytes: 4096})
		if err != nil {
			return
		}
		var o, i bytes.Buffer
		if err := WriteFields(&o, m.Outer); err != nil {
			t.Fatal(err)
		}
		if err := m.WriteInner(&i); err != nil {
			t.Fatal(err)
		}
		for _, fl := range m.Outer {
			if strings.HasPrefix(strings.ToLower(fl.Name), "content-") {
				t.Fatalf("Content-* outside: %q", o.Bytes())
			}
			if hide && strings.EqualFold(fl.Name, "Subject") && string(fl.Raw) != "Subject: "+DefaultGenericSubject+"\r\n" {
				t.Fatalf("real Subject outside: %q", fl.Raw)
			}
		}
		if !bytes.Contains(i.Bytes(), []byte("\r\n\r\n")) {
			t.Fatalf("inner entity without header/body separator: %q", i.Bytes())
		}
	})
}
