package phi

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// extract turns one decoded part (or archive member) into text units.
func (m *msg) extract(where, mt, name string, data []byte, depth int) {
	ext := strings.ToLower(path.Ext(name))
	switch {
	case mt == "text/html" || ext == ".html" || ext == ".htm" || mt == "application/xhtml+xml":
		m.scanUnit(where, htmlText(data))
	case mt == "text/csv" || ext == ".csv":
		m.scanUnit(where, tableText(data, ','))
	case mt == "text/tab-separated-values" || ext == ".tsv":
		m.scanUnit(where, tableText(data, '\t'))
	case mt == "text/rtf" || mt == "application/rtf" || ext == ".rtf":
		m.scanUnit(where, rtfText(data))
	case mt == "application/pdf" || ext == ".pdf" || bytes.HasPrefix(data, []byte("%PDF-")):
		txt, used, ok := pdfText(data, m.budget)
		if !m.charge(used) || !ok {
			m.unscannable(where)
			return
		}
		m.scanUnit(where, txt)
	case bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("PK\x05\x06")):
		m.zipFile(where, data, depth)
	case strings.HasPrefix(mt, "text/"), mt == "application/json", mt == "application/xml", ext == ".txt", ext == ".json", ext == ".xml", ext == ".ics":
		m.scanUnit(where, data)
	case ext == ".eml":
		m.walkMessage(bytes.NewReader(data), depth+1, where)
	default:
		if looksLikeText(data) {
			m.scanUnit(where, data)
			return
		}
		// Legacy Office, encrypted OOXML (CFB container), images in
		// disguise, executables: nothing we can read.
		if len(data) > 0 {
			m.unscannable(where)
		}
	}
}

// looksLikeText: valid UTF-8 with no NUL and few control bytes in the first 8 KiB.
func looksLikeText(b []byte) bool {
	if len(b) > 8192 {
		b = b[:8192]
		for k := 0; k < 4 && len(b) > 0 && !utf8.Valid(b); k++ {
			b = b[:len(b)-1]
		}
	}
	if !utf8.Valid(b) {
		return false
	}
	ctl := 0
	for _, c := range b {
		if c == 0 {
			return false
		}
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' {
			ctl++
		}
	}
	return ctl*50 < len(b)+1
}

// htmlText returns every text node (hidden ones included: display:none text
// is still delivered), comments, alt/title attributes, with line breaks at
// block elements and tabs between table cells. Style sheets are skipped.
func htmlText(data []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(data) / 2)
	z := html.NewTokenizer(bytes.NewReader(data))
	skip := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return out.Bytes()
		case html.TextToken:
			if skip == 0 {
				out.Write(z.Text())
			}
		case html.CommentToken:
			out.WriteByte(' ')
			out.Write(z.Text())
			out.WriteByte(' ')
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			tn, hasAttr := z.TagName()
			tag := string(tn)
			if tag == "style" {
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
				continue
			}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				if ks := string(k); ks == "alt" || ks == "title" || ks == "value" || ks == "placeholder" || ks == "aria-label" {
					out.WriteByte(' ')
					out.Write(v)
					out.WriteByte(' ')
				}
			}
			switch tag {
			case "td", "th":
				out.WriteByte('\t')
			case "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "title", "hr", "blockquote", "pre", "section", "article", "header", "footer", "dt", "dd":
				out.WriteByte('\n')
			default:
				out.WriteByte(' ')
			}
		}
	}
}

// tableText renders CSV/TSV as "Header: value" pairs, one row per line, so
// that a column's label sits right before each value.
func tableText(data []byte, sep rune) []byte {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = sep
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	var header []string
	var out bytes.Buffer
	limit := 3*len(data) + 4096
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out.Bytes()
		}
		if err != nil || out.Len() > limit {
			// Fall back to the raw text for what could not be parsed.
			out.WriteByte('\n')
			off := r.InputOffset()
			if off < int64(len(data)) {
				out.Write(data[off:])
			}
			return out.Bytes()
		}
		if header == nil {
			header = append([]string(nil), rec...)
			out.WriteString(strings.Join(rec, "\t"))
			out.WriteByte('\n')
			continue
		}
		writeRow(&out, header, rec)
	}
}

func writeRow(out *bytes.Buffer, header, rec []string) {
	for i, v := range rec {
		if i > 0 {
			out.WriteString(" ;\t")
		}
		if i < len(header) && header[i] != "" {
			out.WriteString(header[i])
			out.WriteString(": ")
		}
		out.WriteString(v)
	}
	out.WriteByte('\n')
}

// rtfText strips RTF control words and groups that hold no text.
func rtfText(data []byte) []byte {
	var out bytes.Buffer
	type group struct{ skip bool }
	stack := []group{{}}
	uc := 1
	skipChars := 0
	i := 0
	n := len(data)
	for i < n {
		c := data[i]
		skip := stack[len(stack)-1].skip
		switch c {
		case '{':
			if len(stack) < 512 {
				stack = append(stack, group{skip: skip})
			}
			i++
		case '}':
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			i++
		case '\\':
			i++
			if i >= n {
				break
			}
			c = data[i]
			switch {
			case c == '\\' || c == '{' || c == '}':
				if !skip {
					out.WriteByte(c)
				}
				i++
			case c == '\'':
				if i+2 < n {
					v, err := strconv.ParseUint(string(data[i+1:i+3]), 16, 8)
					if err == nil && !skip {
						if skipChars > 0 {
							skipChars--
						} else {
							out.WriteRune(rune(v)) // Windows-1252 ≈ Latin-1 for letters
						}
					}
				}
				i += 3
			case c == '*':
				stack[len(stack)-1].skip = true
				i++
			case isLetterByte(c) && c < 0x80:
				j := i
				for j < n && ((data[j]|0x20) >= 'a' && (data[j]|0x20) <= 'z') {
					j++
				}
				word := string(data[i:j])
				k := j
				if k < n && (data[k] == '-' || isDigit(data[k])) {
					k++
					for k < n && isDigit(data[k]) {
						k++
					}
				}
				param := string(data[j:k])
				if k < n && data[k] == ' ' {
					k++
				}
				i = k
				switch word {
				case "par", "line", "row", "sect", "page":
					if !skip {
						out.WriteByte('\n')
					}
				case "tab", "cell":
					if !skip {
						out.WriteByte('\t')
					}
				case "u":
					if v, err := strconv.Atoi(param); err == nil && !skip {
						if v < 0 {
							v += 65536
						}
						out.WriteRune(rune(v))
						skipChars = uc
					}
				case "uc":
					if v, err := strconv.Atoi(param); err == nil && v >= 0 && v < 10 {
						uc = v
					}
				case "fonttbl", "colortbl", "stylesheet", "info", "pict", "object", "themedata", "colorschememapping", "datastore", "latentstyles", "listtable", "listoverridetable", "rsidtbl", "generator", "xmlnstbl", "mmathPr":
					stack[len(stack)-1].skip = true
				}
			default:
				i++
			}
		case '\r', '\n':
			i++
		default:
			if !skip {
				if skipChars > 0 {
					skipChars--
				} else {
					out.WriteByte(c)
				}
			}
			i++
		}
	}
	return out.Bytes()
}

// zipFile scans the members of a zip archive; DOCX, XLSX and PPTX are zip
// archives whose XML parts are read for their text. Encrypted members are
// unscannable.
func (m *msg) zipFile(where string, data []byte, depth int) {
	if depth >= m.s.maxDepth {
		m.unscannable(where)
		return
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		m.unscannable(where)
		return
	}
	isXLSX, isOOXML := false, false
	for _, f := range zr.File {
		if f.Name == "[Content_Types].xml" {
			isOOXML = true
		}
		if strings.HasPrefix(f.Name, "xl/") {
			isXLSX = true
		}
	}
	if isOOXML && isXLSX {
		m.xlsx(where, zr)
		return
	}
	files := zr.File
	if len(files) > m.s.maxParts {
		m.unscannable(where)
		return
	}
	for _, f := range files {
		if m.stopped {
			return
		}
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		if f.Flags&0x1 != 0 {
			m.unscannable(where)
			return
		}
		m.parts++
		if m.parts > m.s.maxParts {
			m.unscannable(where)
			m.stopped = true
			return
		}
		ext := strings.ToLower(path.Ext(f.Name))
		if isOOXML {
			// Embedded documents (a spreadsheet inside a DOCX) are files
			// of their own; pictures in media/ are not content we read.
			if strings.Contains(f.Name, "/embeddings/") {
				b, ok := m.zipMember(f)
				if !ok {
					m.unscannable(where)
					return
				}
				m.extract(where, "", f.Name, b, depth+1)
				continue
			}
			// Otherwise only the parts that hold document text.
			if ext != ".xml" || !ooxmlTextPart(f.Name) {
				continue
			}
			b, ok := m.zipMember(f)
			if !ok {
				m.unscannable(where)
				return
			}
			m.scanUnit(where, xmlText(b))
			continue
		}
		b, ok := m.zipMember(f)
		if !ok {
			m.unscannable(where)
			return
		}
		m.scanUnit(where, []byte(f.Name))
		m.extract(where, "", f.Name, b, depth+1)
	}
}

func ooxmlTextPart(name string) bool {
	for _, p := range [...]string{"word/document", "word/header", "word/footer", "word/footnotes", "word/endnotes", "word/comments", "ppt/slides/slide", "ppt/notesSlides/", "docProps/core"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// zipMember decompresses one member within the budget.
func (m *msg) zipMember(f *zip.File) ([]byte, bool) {
	rc, err := f.Open()
	if err != nil {
		return nil, false
	}
	defer rc.Close()
	b, err := m.readLimited(rc)
	if err != nil {
		if _, over := err.(errOverLimit); over {
			m.stopped = true
		}
		return nil, false
	}
	return b, true
}

// xmlText returns the character data of an XML document, with a line break
// after paragraphs and rows and a tab after cells (WordprocessingML,
// DrawingML, SpreadsheetML all fit this).
func xmlText(b []byte) []byte {
	var out bytes.Buffer
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = false
	for {
		tok, err := dec.RawToken()
		if err != nil {
			return out.Bytes()
		}
		switch t := tok.(type) {
		case xml.CharData:
			out.Write(t)
		case xml.StartElement:
			switch t.Name.Local {
			case "tab":
				out.WriteByte('\t')
			case "br", "cr":
				out.WriteByte('\n')
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "p", "tr", "row":
				out.WriteByte('\n')
			case "tc", "c":
				out.WriteByte('\t')
			case "t", "r", "delText", "instrText":
			default:
				out.WriteByte(' ')
			}
		}
	}
}

// xlsx renders every sheet as "Header: value" rows using the first row as
// the header, like CSV.
func (m *msg) xlsx(where string, zr *zip.Reader) {
	var shared []string
	var sheets []*zip.File
	for _, f := range zr.File {
		if f.Flags&0x1 != 0 {
			m.unscannable(where)
			return
		}
		switch {
		case f.Name == "xl/sharedStrings.xml":
			b, ok := m.zipMember(f)
			if !ok {
				m.unscannable(where)
				return
			}
			shared = sharedStrings(b)
		case strings.HasPrefix(f.Name, "xl/worksheets/") && strings.HasSuffix(f.Name, ".xml"):
			sheets = append(sheets, f)
		}
	}
	sort.Slice(sheets, func(i, j int) bool { return sheets[i].Name < sheets[j].Name })
	for _, f := range sheets {
		b, ok := m.zipMember(f)
		if !ok {
			m.unscannable(where)
			return
		}
		m.scanUnit(where, sheetText(b, shared))
	}
}

func sharedStrings(b []byte) []string {
	var out []string
	var cur strings.Builder
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = false
	inT := false
	for {
		tok, err := dec.RawToken()
		if err != nil {
			return out
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "si" {
				cur.Reset()
			}
			if t.Name.Local == "t" {
				inT = true
			}
		case xml.EndElement:
			if t.Name.Local == "t" {
				inT = false
			}
			if t.Name.Local == "si" {
				out = append(out, cur.String())
			}
		case xml.CharData:
			if inT {
				cur.Write(t)
			}
		}
	}
}

func sheetText(b []byte, shared []string) []byte {
	var out bytes.Buffer
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = false
	var header, row []string
	var cellType string
	var val strings.Builder
	inV := false
	flush := func() {
		if header == nil {
			header = append([]string(nil), row...)
			out.WriteString(strings.Join(row, "\t"))
			out.WriteByte('\n')
		} else {
			writeRow(&out, header, row)
		}
		row = row[:0]
	}
	for {
		tok, err := dec.RawToken()
		if err != nil {
			if len(row) > 0 {
				flush()
			}
			return out.Bytes()
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "c":
				cellType = ""
				for _, a := range t.Attr {
					if a.Name.Local == "t" {
						cellType = a.Value
					}
				}
				val.Reset()
			case "v", "t":
				inV = true
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "v", "t":
				inV = false
			case "c":
				v := val.String()
				if cellType == "s" {
					if k, err := strconv.Atoi(v); err == nil && k >= 0 && k < len(shared) {
						v = shared[k]
					}
				}
				row = append(row, v)
			case "row":
				flush()
			}
		case xml.CharData:
			if inV {
				val.Write(t)
			}
		}
	}
}
