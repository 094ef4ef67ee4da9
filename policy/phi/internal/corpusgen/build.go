package corpusgen

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// Part is one MIME leaf or a nested multipart.
type Part struct {
	Type        string // full Content-Type value, e.g. `text/plain; charset="utf-8"`
	Encoding    string // "", "7bit", "quoted-printable", "base64"
	Disposition string // "", "inline", "attachment"
	Filename    string
	Body        []byte
	Parts       []Part // for multipart/*: Type is "multipart/alternative" etc.
	RawBody     bool   // Body is already encoded (for hand-made soft breaks)
}

// Header is a message header in order.
type Header [][2]string

// Mail builds an RFC 5322 message with CRLF line endings.
func Mail(h Header, p Part, boundarySeed int) []byte {
	var b bytes.Buffer
	for _, kv := range h {
		fmt.Fprintf(&b, "%s: %s\r\n", kv[0], kv[1])
	}
	b.WriteString("MIME-Version: 1.0\r\n")
	n := boundarySeed
	writePart(&b, p, &n)
	return b.Bytes()
}

func writePart(b *bytes.Buffer, p Part, n *int) {
	if len(p.Parts) > 0 {
		*n++
		boundary := fmt.Sprintf("=_sg_%04d_boundary", *n)
		fmt.Fprintf(b, "Content-Type: %s; boundary=\"%s\"\r\n\r\n", p.Type, boundary)
		b.WriteString("This is a multi-part message in MIME format.\r\n")
		for _, c := range p.Parts {
			fmt.Fprintf(b, "\r\n--%s\r\n", boundary)
			writePart(b, c, n)
		}
		fmt.Fprintf(b, "\r\n--%s--\r\n", boundary)
		return
	}
	fmt.Fprintf(b, "Content-Type: %s\r\n", p.Type)
	if p.Encoding != "" {
		fmt.Fprintf(b, "Content-Transfer-Encoding: %s\r\n", p.Encoding)
	}
	if p.Disposition != "" {
		if p.Filename != "" {
			fmt.Fprintf(b, "Content-Disposition: %s; filename=\"%s\"\r\n", p.Disposition, p.Filename)
		} else {
			fmt.Fprintf(b, "Content-Disposition: %s\r\n", p.Disposition)
		}
	}
	b.WriteString("\r\n")
	switch {
	case p.RawBody:
		b.Write(p.Body)
	case p.Encoding == "base64":
		enc := base64.StdEncoding.EncodeToString(p.Body)
		for len(enc) > 76 {
			b.WriteString(enc[:76])
			b.WriteString("\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc)
	case p.Encoding == "quoted-printable":
		w := quotedprintable.NewWriter(b)
		w.Write(p.Body)
		w.Close()
	default:
		b.Write(crlf(p.Body))
	}
	b.WriteString("\r\n")
}

func crlf(b []byte) []byte {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// EncodeSubject encodes a non-ASCII subject per RFC 2047.
func EncodeSubject(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

// Text is a text/plain part.
func Text(s string) Part { return Part{Type: `text/plain; charset="utf-8"`, Body: []byte(s)} }

// HTML is a text/html part.
func HTML(s string) Part { return Part{Type: `text/html; charset="utf-8"`, Body: []byte(s)} }

// Attach makes an attachment part, base64-encoded.
func Attach(ctype, name string, body []byte) Part {
	return Part{Type: fmt.Sprintf("%s; name=\"%s\"", ctype, name), Encoding: "base64", Disposition: "attachment", Filename: name, Body: body}
}

// Mixed and Alternative build multiparts.
func Mixed(ps ...Part) Part       { return Part{Type: "multipart/mixed", Parts: ps} }
func Alternative(ps ...Part) Part { return Part{Type: "multipart/alternative", Parts: ps} }

func xmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}

func zipOf(files [][2]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, _ := zw.Create(f[0])
		w.Write([]byte(f[1]))
	}
	zw.Close()
	return buf.Bytes()
}

// DOCX builds a minimal WordprocessingML document, one paragraph per line;
// tabs become <w:tab/>.
func DOCX(lines []string) []byte {
	var body strings.Builder
	for _, l := range lines {
		body.WriteString("<w:p>")
		for i, seg := range strings.Split(l, "\t") {
			if i > 0 {
				body.WriteString("<w:r><w:tab/></w:r>")
			}
			fmt.Fprintf(&body, `<w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">%s</w:t></w:r>`, xmlEscape(seg))
		}
		body.WriteString("</w:p>")
	}
	doc := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` + body.String() + `</w:body></w:document>`
	return zipOf([][2]string{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`},
		{"word/document.xml", doc},
	})
}

// XLSX builds a one-sheet workbook; the first row is the header. Strings go
// to the shared string table, numeric-looking cells are inline numbers.
func XLSX(rows [][]string) []byte {
	var shared []string
	idx := map[string]int{}
	var sheet strings.Builder
	sheet.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	for ri, row := range rows {
		fmt.Fprintf(&sheet, `<row r="%d">`, ri+1)
		for ci, v := range row {
			ref := fmt.Sprintf("%c%d", 'A'+ci, ri+1)
			if isNumber(v) {
				fmt.Fprintf(&sheet, `<c r="%s"><v>%s</v></c>`, ref, v)
				continue
			}
			k, ok := idx[v]
			if !ok {
				k = len(shared)
				idx[v] = k
				shared = append(shared, v)
			}
			fmt.Fprintf(&sheet, `<c r="%s" t="s"><v>%d</v></c>`, ref, k)
		}
		sheet.WriteString(`</row>`)
	}
	sheet.WriteString(`</sheetData></worksheet>`)
	var ss strings.Builder
	fmt.Fprintf(&ss, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">`, len(shared), len(shared))
	for _, s := range shared {
		fmt.Fprintf(&ss, `<si><t>%s</t></si>`, xmlEscape(s))
	}
	ss.WriteString(`</sst>`)
	return zipOf([][2]string{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>`},
		{"xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets><sheet name="Sheet1" sheetId="1"/></sheets></workbook>`},
		{"xl/sharedStrings.xml", ss.String()},
		{"xl/worksheets/sheet1.xml", sheet.String()},
	})
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return s[0] != '0' || len(s) == 1
}

// PDF builds a one-page PDF whose content stream shows the lines with Tj,
// compressed with FlateDecode when compress is set.
func PDF(lines []string, compress bool) []byte {
	var content strings.Builder
	content.WriteString("BT /F1 11 Tf 72 720 Td 14 TL\n")
	for _, l := range lines {
		r := strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`)
		fmt.Fprintf(&content, "(%s) Tj T*\n", r.Replace(l))
	}
	content.WriteString("ET\n")
	stream := []byte(content.String())
	filter := ""
	if compress {
		var zb bytes.Buffer
		zw := zlib.NewWriter(&zb)
		zw.Write(stream)
		zw.Close()
		stream = zb.Bytes()
		filter = " /Filter /FlateDecode"
	}
	var b bytes.Buffer
	var offs []int
	obj := func(s string) {
		offs = append(offs, b.Len())
		b.WriteString(s)
	}
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	obj("1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
	obj("2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n")
	obj("3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>\nendobj\n")
	offs = append(offs, b.Len())
	fmt.Fprintf(&b, "4 0 obj\n<< /Length %d%s >>\nstream\n", len(stream), filter)
	b.Write(stream)
	b.WriteString("\nendstream\nendobj\n")
	obj("5 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n")
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, xref)
	return b.Bytes()
}

// EncryptedPDF is a PDF whose trailer names an /Encrypt dictionary.
func EncryptedPDF() []byte {
	p := PDF([]string{"x"}, true)
	return bytes.Replace(p, []byte("/Root 1 0 R"), []byte("/Root 1 0 R /Encrypt 6 0 R"), 1)
}

// ScannedPDF is a page whose only content is an image (a scan).
func ScannedPDF() []byte {
	return []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>\nendobj\n4 0 obj\n<< /Length 20 >>\nstream\nq 612 0 0 792 0 0 cm\nendstream\nendobj\n5 0 obj\n<< /Type /XObject /Subtype /Image /Filter /DCTDecode /Length 4 >>\nstream\n\xff\xd8\xff\xe0\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
}

// RTF builds an RTF document with a font table and one paragraph per line.
func RTF(lines []string) []byte {
	var b strings.Builder
	b.WriteString(`{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss Helvetica;}}{\colortbl;\red0\green0\blue0;}{\*\generator Sealgate corpus;}` + "\n")
	for _, l := range lines {
		var esc strings.Builder
		for _, r := range l {
			switch {
			case r == '\\' || r == '{' || r == '}':
				esc.WriteRune('\\')
				esc.WriteRune(r)
			case r == '\t':
				esc.WriteString(`\tab `)
			case r >= 0x80 && r < 0x100:
				fmt.Fprintf(&esc, `\'%02x`, r)
			case r >= 0x100:
				fmt.Fprintf(&esc, `\u%d?`, r)
			default:
				esc.WriteRune(r)
			}
		}
		b.WriteString(`\f0\fs22 ` + esc.String() + `\par` + "\n")
	}
	b.WriteString("}")
	return []byte(b.String())
}

// Zip builds a plain zip archive.
func Zip(files [][2]string) []byte { return zipOf(files) }

// EncryptedZip builds a zip whose member has the "encrypted" flag set (a
// traditional PKWARE-encrypted member, as far as a reader can tell).
func EncryptedZip(name string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Flags: 0x1})
	w.Write([]byte("\x8a\x11\x93\x02\xfe\x7c\x55\x01\x9a\x00\xc3\x21encrypted-bytes"))
	zw.Close()
	return buf.Bytes()
}
