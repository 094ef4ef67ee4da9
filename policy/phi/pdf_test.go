package phi

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"strings"
	"testing"
	"time"
)

// cidPDF builds a PDF whose text uses a composite (Type0/Identity-H) font:
// the content stream shows two-byte glyph codes, and the optional
// ToUnicode CMap maps them back to characters.
func cidPDF(text string, withCMap bool) []byte {
	glyph := map[rune]int{}
	var codes strings.Builder
	var bfchar strings.Builder
	n := 0
	for _, r := range text {
		g, ok := glyph[r]
		if !ok {
			n++
			g = n + 2
			glyph[r] = g
			fmt.Fprintf(&bfchar, "<%04X> <%04X>\n", g, r)
		}
		fmt.Fprintf(&codes, "%04X", g)
	}
	content := "BT /F1 11 Tf 72 720 Td <" + codes.String() + "> Tj ET\n"
	var zb bytes.Buffer
	zw := zlib.NewWriter(&zb)
	zw.Write([]byte(content))
	zw.Close()
	cmap := "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n1 begincodespacerange <0000> <FFFF> endcodespacerange\n" +
		fmt.Sprintf("%d beginbfchar\n%sendbfchar\n", len(glyph), bfchar.String()) + "endcmap CMapName currentdict /CMap defineresource pop end end\n"
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n")
	b.WriteString("3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>\nendobj\n")
	fmt.Fprintf(&b, "4 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n", zb.Len())
	b.Write(zb.Bytes())
	b.WriteString("\nendstream\nendobj\n")
	if withCMap {
		b.WriteString("5 0 obj\n<< /Type /Font /Subtype /Type0 /BaseFont /ABCDEF+Calibri /Encoding /Identity-H /ToUnicode 6 0 R >>\nendobj\n")
		fmt.Fprintf(&b, "6 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n", len(cmap), cmap)
	} else {
		b.WriteString("5 0 obj\n<< /Type /Font /Subtype /Type0 /BaseFont /ABCDEF+Calibri /Encoding /Identity-H >>\nendobj\n")
	}
	b.WriteString("trailer\n<< /Root 1 0 R >>\n%%EOF\n")
	return b.Bytes()
}

func TestPDFCompositeFonts(t *testing.T) {
	txt, _, ok := pdfText(cidPDF("Patient: Rosa Delgado, SSN 512-44-8821", true), 1<<20)
	if !ok || !strings.Contains(string(txt), "SSN 512-44-8821") {
		t.Fatalf("ToUnicode CMap not applied: ok=%v %q", ok, txt)
	}
	// Without a ToUnicode CMap the glyph codes mean nothing: fail closed
	// rather than scan garbage.
	if _, _, ok := pdfText(cidPDF("Patient: Rosa Delgado", false), 1<<20); ok {
		t.Fatal("composite font without ToUnicode was reported readable")
	}
}

func TestParseCMapRanges(t *testing.T) {
	m := map[uint16]string{}
	cm := []byte("2 beginbfrange\n<0010> <0012> <0041>\n<0020> <0021> [<0061> <0062>]\nendbfrange\n1 beginbfchar\n<0030> <00660069>\nendbfchar\n")
	if !parseCMap(cm, m) {
		t.Fatal("conflict reported")
	}
	for code, want := range map[uint16]string{0x10: "A", 0x12: "C", 0x20: "a", 0x21: "b", 0x30: "fi"} {
		if m[code] != want {
			t.Errorf("code %04X = %q, want %q", code, m[code], want)
		}
	}
	if parseCMap([]byte("1 beginbfchar <0010> <0058> endbfchar"), m) {
		t.Error("conflicting CMaps not detected")
	}
}

func TestParseCMapWorkIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("20000 beginbfrange\n")
	for i := 0; i < 20000; i++ {
		b.WriteString("<0000> <FFFF> <0041>\n")
	}
	b.WriteString("endbfrange\n")
	m := map[uint16]string{}
	start := time.Now()
	parseCMap([]byte(b.String()), m)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("overlapping ranges took %v", d)
	}
}
