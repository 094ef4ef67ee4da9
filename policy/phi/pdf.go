package phi

import (
	"bytes"
	"compress/zlib"
	"io"
	"unicode/utf16"
)

// pdfText extracts the text shown by a PDF's content streams: it inflates
// FlateDecode streams (ISO 32000-1 §7.4.4), and collects the string
// operands of the text-showing operators Tj, TJ, ' and " (§9.4.3). It
// reports false for encrypted documents (§7.6), for streams with filters it
// does not implement, and when pages exist but no readable text comes out
// (scanned images, fonts without a Unicode mapping): callers then treat the
// file as unscannable. Work and memory are bounded by limit; it also
// returns how many decompressed bytes it used, for the caller's budget.
func pdfText(data []byte, limit int64) ([]byte, int64, bool) {
	if bytes.Contains(data, []byte("/Encrypt")) {
		return nil, 0, false
	}
	var out bytes.Buffer
	var contents [][]byte
	cmap := map[uint16]string{}
	conflict := false
	contentStreams := 0
	budget := limit
	pos := 0
	prevEnd := 0
	for {
		k := bytes.Index(data[pos:], []byte("stream"))
		if k < 0 {
			break
		}
		start := pos + k
		pos = start + 6
		if start >= 3 && string(data[start-3:start]) == "end" {
			continue
		}
		// The stream dictionary is the last "<<" ... ">>" before "stream".
		from := max(prevEnd, start-4096)
		dictStart := bytes.LastIndex(data[from:start], []byte("obj"))
		dict := data[from:start]
		if dictStart >= 0 {
			dict = dict[dictStart:]
		}
		body := pos
		if body < len(data) && data[body] == '\r' {
			body++
		}
		if body < len(data) && data[body] == '\n' {
			body++
		}
		end := bytes.Index(data[body:], []byte("endstream"))
		if end < 0 {
			return nil, limit - budget, false
		}
		raw := data[body : body+end]
		pos = body + end + 9
		prevEnd = pos
		if bytes.Contains(dict, []byte("/Image")) || bytes.Contains(dict, []byte("/DCTDecode")) || bytes.Contains(dict, []byte("/JPXDecode")) || bytes.Contains(dict, []byte("/XRef")) || bytes.Contains(dict, []byte("/FontFile")) || bytes.Contains(dict, []byte("/Length1")) || bytes.Contains(dict, []byte("/Metadata")) {
			continue
		}
		var content []byte
		switch {
		case bytes.Contains(dict, []byte("/FlateDecode")):
			if bytes.Contains(dict, []byte("/ASCII85Decode")) || bytes.Contains(dict, []byte("/LZWDecode")) || bytes.Contains(dict, []byte("/ASCIIHexDecode")) {
				return nil, limit - budget, false
			}
			zr, err := zlib.NewReader(bytes.NewReader(raw))
			if err != nil {
				return nil, limit - budget, false
			}
			var b bytes.Buffer
			n, err := io.Copy(&b, io.LimitReader(zr, budget+1))
			if n > budget {
				return nil, limit - budget, false
			}
			if err != nil && err != io.ErrUnexpectedEOF {
				return nil, limit - budget, false
			}
			budget -= n
			content = b.Bytes()
		case bytes.Contains(dict, []byte("/Filter")):
			return nil, limit - budget, false
		default:
			content = raw
		}
		if bytes.Contains(dict, []byte("/ObjStm")) {
			continue
		}
		if bytes.Contains(content, []byte("begincmap")) {
			if !parseCMap(content, cmap) {
				conflict = true
			}
			continue
		}
		if bytes.Contains(content, []byte("BT")) && (bytes.Contains(content, []byte("Tj")) || bytes.Contains(content, []byte("TJ"))) {
			contents = append(contents, content)
		}
	}
	// Composite (Type0, Identity-H/V) fonts show glyph codes, not
	// characters: they are readable only through their ToUnicode CMaps
	// (§9.10.3). Without one, or when the CMaps of several fonts disagree,
	// the text cannot be recovered: fail closed.
	dec := pdfDecoder{cid: bytes.Contains(data, []byte("/Type0")) || bytes.Contains(data, []byte("/Identity-H")) || bytes.Contains(data, []byte("/Identity-V"))}
	if len(cmap) > 0 {
		dec.cmap = cmap
	}
	if dec.cid && (dec.cmap == nil || conflict) {
		return nil, limit - budget, false
	}
	for _, c := range contents {
		contentStreams++
		pdfContentText(c, &out, &dec)
		out.WriteByte('\n')
		if dec.failed {
			return nil, limit - budget, false
		}
	}
	pages := bytes.Count(data, []byte("/Type /Page")) + bytes.Count(data, []byte("/Type/Page"))
	if pages > 0 && contentStreams == 0 {
		return nil, limit - budget, false // image-only or unreadable pages
	}
	txt := out.Bytes()
	if len(txt) > 0 && !mostlyText(txt) {
		return nil, limit - budget, false
	}
	return txt, limit - budget, true
}

func mostlyText(b []byte) bool {
	good := 0
	for _, c := range b {
		if c == ' ' || c == '\n' || c == '\t' || (c >= 0x21 && c < 0x7f) || c >= 0x80 {
			good++
		}
	}
	return good*10 >= len(b)*9
}

// pdfDecoder turns the bytes of a string operand into text.
type pdfDecoder struct {
	cmap   map[uint16]string // merged ToUnicode CMaps (two-byte codes)
	cid    bool              // the document has composite fonts
	failed bool
	raw    []byte
}

func (dec *pdfDecoder) write(raw []byte, out *bytes.Buffer) {
	if dec.cmap != nil && len(raw)%2 == 0 && len(raw) > 0 {
		mapped := true
		for k := 0; k+1 < len(raw); k += 2 {
			if _, ok := dec.cmap[uint16(raw[k])<<8|uint16(raw[k+1])]; !ok {
				mapped = false
				break
			}
		}
		if mapped {
			for k := 0; k+1 < len(raw); k += 2 {
				out.WriteString(dec.cmap[uint16(raw[k])<<8|uint16(raw[k+1])])
			}
			return
		}
	}
	if dec.cmap != nil && len(raw) > 0 {
		mapped := true
		for _, x := range raw {
			if _, ok := dec.cmap[uint16(x)]; !ok {
				mapped = false
				break
			}
		}
		if mapped { // one-byte codes (simple fonts with a ToUnicode CMap)
			for _, x := range raw {
				out.WriteString(dec.cmap[uint16(x)])
			}
			return
		}
	}
	if dec.cid && len(raw) >= 2 && raw[0] == 0 {
		// Two-byte glyph codes that no CMap explains.
		dec.failed = true
		return
	}
	if len(raw)%2 == 0 && len(raw) >= 2 && raw[0] == 0 {
		for k := 0; k+1 < len(raw); k += 2 { // UTF-16BE text strings
			out.WriteRune(rune(raw[k])<<8 | rune(raw[k+1]))
		}
		return
	}
	for _, x := range raw {
		out.WriteRune(rune(x)) // PDFDocEncoding/WinAnsi ≈ Latin-1 for letters and digits
	}
}

// pdfContentText collects the operands of text-showing operators.
func pdfContentText(c []byte, out *bytes.Buffer, dec *pdfDecoder) {
	var pending bytes.Buffer
	i := 0
	for i < len(c) {
		ch := c[i]
		switch {
		case ch == '(':
			dec.raw = dec.raw[:0]
			i = pdfLiteral(c, i+1, &dec.raw)
			dec.write(dec.raw, &pending)
		case ch == '<' && i+1 < len(c) && c[i+1] != '<':
			dec.raw = dec.raw[:0]
			i = pdfHex(c, i+1, &dec.raw)
			dec.write(dec.raw, &pending)
		case ch == '%':
			for i < len(c) && c[i] != '\n' && c[i] != '\r' {
				i++
			}
		case ch == 'T' && i+1 < len(c) && (c[i+1] == 'j' || c[i+1] == 'J'):
			out.Write(pending.Bytes())
			pending.Reset()
			i += 2
		case ch == '\'' || ch == '"':
			out.WriteByte('\n')
			out.Write(pending.Bytes())
			pending.Reset()
			i++
		case ch == 'T' && i+1 < len(c) && (c[i+1] == 'd' || c[i+1] == 'D' || c[i+1] == '*' || c[i+1] == 'm'):
			out.WriteByte('\n')
			pending.Reset()
			i += 2
		case ch == 'E' && i+1 < len(c) && c[i+1] == 'T':
			out.WriteByte('\n')
			pending.Reset()
			i += 2
		case ch == ']':
			i++
		case ch == '-' || (ch >= '0' && ch <= '9'):
			// A large negative kerning inside TJ is a word space.
			j := i
			for j < len(c) && (c[j] == '-' || c[j] == '.' || (c[j] >= '0' && c[j] <= '9')) {
				j++
			}
			if ch == '-' && j-i >= 4 && pending.Len() > 0 {
				pending.WriteByte(' ')
			}
			i = j
		default:
			i++
		}
	}
}

// pdfLiteral reads a literal string's bytes (§7.3.4.2) into out.
func pdfLiteral(c []byte, i int, out *[]byte) int {
	depth := 1
	for i < len(c) {
		ch := c[i]
		switch ch {
		case '\\':
			i++
			if i >= len(c) {
				return i
			}
			e := c[i]
			switch e {
			case 'n':
				*out = append(*out, '\n')
			case 'r', 't', 'b', 'f':
				*out = append(*out, ' ')
			case '(', ')', '\\':
				*out = append(*out, e)
			case '\r', '\n':
			default:
				if e >= '0' && e <= '7' {
					v := 0
					k := 0
					for k < 3 && i < len(c) && c[i] >= '0' && c[i] <= '7' {
						v = v*8 + int(c[i]-'0')
						i++
						k++
					}
					*out = append(*out, byte(v))
					continue
				}
				*out = append(*out, e)
			}
			i++
		case '(':
			depth++
			*out = append(*out, ch)
			i++
		case ')':
			depth--
			i++
			if depth == 0 {
				return i
			}
			*out = append(*out, ch)
		default:
			*out = append(*out, ch)
			i++
		}
	}
	return i
}

// pdfHex reads a hexadecimal string's bytes (§7.3.4.3) into out.
func pdfHex(c []byte, i int, out *[]byte) int {
	hi := -1
	for i < len(c) && c[i] != '>' {
		v := hexVal(c[i])
		i++
		if v < 0 {
			continue
		}
		if hi < 0 {
			hi = v
		} else {
			*out = append(*out, byte(hi<<4|v))
			hi = -1
		}
	}
	if hi >= 0 {
		*out = append(*out, byte(hi<<4))
	}
	return i + 1
}

// parseCMap adds the bfchar and bfrange mappings of a ToUnicode CMap
// (§9.10.3) to m. It reports false when a code is already mapped to
// something else (two fonts' CMaps disagree). At most 2^17 mappings are
// read per CMap, so work stays linear in the document size.
func parseCMap(b []byte, m map[uint16]string) bool {
	ok := true
	work := 0 // total mappings written, so that overlapping ranges cannot loop 2^16 times each
	set := func(code uint32, dst []byte) {
		work++
		if code > 0xffff || len(m) >= 1<<16 || work > 1<<17 {
			return
		}
		v := utf16BE(dst)
		if old, seen := m[uint16(code)]; seen && old != v {
			ok = false
		}
		m[uint16(code)] = v
	}
	toks := cmapTokens(b)
	for i := 0; i < len(toks); i++ {
		switch string(toks[i]) {
		case "beginbfchar":
			for i+2 < len(toks) && string(toks[i+1]) != "endbfchar" {
				src, dst := toks[i+1], toks[i+2]
				if isHexTok(src) && isHexTok(dst) {
					set(hexNum(src), hexBytes(dst))
				}
				i += 2
			}
		case "beginbfrange":
			for i+3 < len(toks) && string(toks[i+1]) != "endbfrange" {
				lo, hi := hexNum(toks[i+1]), hexNum(toks[i+2])
				if hi < lo || hi-lo > 0xffff {
					hi = lo
				}
				if string(toks[i+3]) == "[" {
					j := i + 4
					for c := lo; j < len(toks) && string(toks[j]) != "]"; c++ {
						if c <= hi {
							set(c, hexBytes(toks[j]))
						}
						j++
					}
					i = j
					continue
				}
				base := hexBytes(toks[i+3])
				for c := lo; c <= hi; c++ {
					d := append([]byte(nil), base...)
					if len(d) > 0 {
						d[len(d)-1] += byte(c - lo) // the last byte increments (§9.10.3)
					}
					set(c, d)
					if len(m) >= 1<<16 || work > 1<<17 {
						break
					}
				}
				i += 3
			}
		}
	}
	return ok
}

// cmapTokens splits a CMap into hex strings "<..>", brackets and words.
func cmapTokens(b []byte) [][]byte {
	var toks [][]byte
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '<' && i+1 < len(b) && b[i+1] != '<':
			j := bytes.IndexByte(b[i:], '>')
			if j < 0 {
				return toks
			}
			toks = append(toks, b[i:i+j+1])
			i += j + 1
		case c == '[' || c == ']':
			toks = append(toks, b[i:i+1])
			i++
		case c == ' ' || c == '\n' || c == '\r' || c == '\t':
			i++
		default:
			j := i
			for j < len(b) && b[j] != ' ' && b[j] != '\n' && b[j] != '\r' && b[j] != '\t' && b[j] != '<' && b[j] != '[' && b[j] != ']' {
				j++
			}
			if j == i {
				j++
			}
			toks = append(toks, b[i:j])
			i = j
		}
	}
	return toks
}

func isHexTok(t []byte) bool { return len(t) >= 2 && t[0] == '<' && t[len(t)-1] == '>' }

func hexBytes(t []byte) []byte {
	if !isHexTok(t) {
		return nil
	}
	var out []byte
	pdfHex(t, 1, &out)
	return out
}

func hexNum(t []byte) uint32 {
	var v uint32
	for _, x := range hexBytes(t) {
		v = v<<8 | uint32(x)
		if v > 0xffffff {
			return 0x1000000
		}
	}
	return v
}

func utf16BE(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for k := 0; k+1 < len(b); k += 2 {
		u = append(u, uint16(b[k])<<8|uint16(b[k+1]))
	}
	return string(utf16.Decode(u))
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
