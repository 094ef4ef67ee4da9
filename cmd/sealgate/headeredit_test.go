package main

import (
	"io"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/policy"
)

func TestHeaderEditsStripTagsAndHeaders(t *testing.T) {
	msg := "Received: from a\r\n\tby b\r\nSubject: [secure] Lab\r\n results\r\nX-Sealgate-Encrypt: always\r\nTo: bob@example.org\r\n\r\nbody [secure]\r\nX-Sealgate-Encrypt: in body stays\r\n"
	e := editsFor(map[string]policy.Decision{"bob@example.org": {StripSubjectTags: []string{"[secure]"}, StripHeaders: []string{"X-Sealgate-Encrypt"}}})
	rc, err := e.open(func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(msg)), nil })()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	want := "Received: from a\r\n\tby b\r\nSubject: Lab results\r\nTo: bob@example.org\r\n\r\nbody [secure]\r\nX-Sealgate-Encrypt: in body stays\r\n"
	if string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

func TestHeaderEditsEncodedSubject(t *testing.T) {
	e := headerEdits{subjectTags: []string{"[secure]"}}
	if got := e.subject("=?utf-8?q?=5Bsecure=5D_R=C3=A9sultats?="); got != "=?utf-8?q?R=C3=A9sultats?=" {
		t.Fatalf("encoded subject: %q", got)
	}
	if got := e.subject("no tag here"); got != "no tag here" {
		t.Fatalf("untagged subject changed: %q", got)
	}
}

func TestHeaderEditsNothingToDo(t *testing.T) {
	e := editsFor(nil)
	open := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("x")), nil }
	if !e.empty() {
		t.Fatal("no decisions should mean no edits")
	}
	if rc, _ := e.open(open)(); rc == nil {
		t.Fatal("nil reader")
	}
}
