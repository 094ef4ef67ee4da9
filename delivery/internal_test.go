package delivery

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
)

// FuzzCleanReply: whatever a remote server says, what we keep is one
// bounded line of printable ASCII.
func FuzzCleanReply(f *testing.F) {
	for _, s := range []string{"", "ok", "5.1.1 user unknown\nsecond line", "\x00\x1b[31mred\r\n", strings.Repeat("é", 400)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := cleanReply(s)
		if len(out) > maxReplyText+1 || !utf8.ValidString(out) {
			t.Fatalf("len %d", len(out))
		}
		for _, r := range out {
			if r < 0x20 || r > 0x7e {
				t.Fatalf("unprintable %q in %q", r, out)
			}
		}
	})
}

// FuzzFromSMTP: any reply code and enhanced code map to a consistent
// temporary/permanent classification.
func FuzzFromSMTP(f *testing.F) {
	f.Add(550, 5, 1, 1, "no")
	f.Add(450, 5, 1, 1, "class mismatch")
	f.Add(421, -1, -1, -1, "bye")
	f.Add(999, 0, 0, 0, "")
	f.Fuzz(func(t *testing.T, code, a, b, c int, msg string) {
		e := fromSMTP(&smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{a, b, c}, Message: msg})
		if e == nil {
			t.Fatal("nil")
		}
		if e.Temporary == (code/100 == 5) {
			t.Fatalf("code %d temporary=%v", code, e.Temporary)
		}
		if e.Enhanced == "" || (code/100 >= 2 && code/100 <= 5 && code/100 != 3 && int(e.Enhanced[0]-'0') != code/100) {
			t.Fatalf("code %d enhanced %q", code, e.Enhanced)
		}
	})
}

func TestFromSMTPIgnoresNonReplies(t *testing.T) {
	if fromSMTP(errors.New("EOF")) != nil {
		t.Error("a network error was taken for an SMTP reply")
	}
}
