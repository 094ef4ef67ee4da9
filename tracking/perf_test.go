package tracking

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

func oneLineHTML(links int) string {
	return "Content-Type: text/html\r\n\r\n<html><body>" +
		strings.Repeat(`<a href="https://clinic.example/x">x</a> `, links) + "</body></html>\r\n"
}

// Work grows linearly with message size, even for the worst shape: one
// enormous line full of links (every link forces a line-length decision).
func TestRewriteLinearTime(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	measure := func(links int) time.Duration {
		msg := oneLineHTML(links)
		best := time.Duration(1 << 62)
		for i := 0; i < 3; i++ {
			start := time.Now()
			if _, err := Rewrite(io.Discard, strings.NewReader(msg), testParams()); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < best {
				best = d
			}
		}
		return best
	}
	small, large := measure(2000), measure(16000) // 8× the input
	ratio := float64(large) / float64(small)
	t.Logf("2000 links %v, 16000 links %v, ratio %.1f (linear ≈ 8, quadratic ≈ 64)", small, large, ratio)
	if ratio > 24 {
		t.Errorf("rewrite time grew %.1f× for 8× the input: not linear", ratio)
	}
}

func BenchmarkRewriteAlternative(b *testing.B) {
	msg, err := readFile("testdata/rewrite/alternative/input.eml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Rewrite(io.Discard, bytes.NewReader(msg), testParams()); err != nil {
			b.Fatal(err)
		}
	}
}

// bigAttachment streams a message with a large base64 attachment without
// holding it in memory.
type bigAttachment struct {
	head, tail []byte
	lines      int
	line       []byte
	pos        int
	state      int
}

func (b *bigAttachment) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		var src []byte
		switch {
		case b.state == 0:
			src = b.head
		case b.state == 1 && b.lines > 0:
			src = b.line
		case b.state == 1:
			b.state, b.pos = 2, 0
			continue
		case b.state == 2:
			src = b.tail
		default:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
		c := copy(p[n:], src[b.pos:])
		n += c
		b.pos += c
		if b.pos == len(src) {
			b.pos = 0
			if b.state == 1 {
				b.lines--
			} else {
				b.state++
			}
		}
	}
	return n, nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// A 100 MB attachment streams through in bounded memory, untouched.
func TestRewriteStreamsAttachments(t *testing.T) {
	head := crlf("Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/html\n\n<a href=\"https://clinic.example/\">x</a>\n--m\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n")
	tail := crlf("--m--\n")
	line := []byte(strings.Repeat("QUJD", 19) + "\r\n")
	const lines = 100 << 20 / 78
	src := &bigAttachment{head: []byte(head), tail: []byte(tail), lines: lines, line: line}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cw := &countingWriter{}
	st, err := Rewrite(cw, src, testParams())
	runtime.ReadMemStats(&ms1)
	if err != nil {
		t.Fatal(err)
	}
	if st.LinksRewritten != 1 {
		t.Fatalf("stats %+v", st)
	}
	in := int64(len(head) + len(tail) + lines*len(line))
	if cw.n < in {
		t.Errorf("output %d bytes < input %d", cw.n, in)
	}
	if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 8<<20 {
		t.Errorf("allocated %d MiB for a 100 MiB attachment: not streaming", alloc>>20)
	}
}
