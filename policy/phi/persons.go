package phi

import "sort"

// Person identifiers: a patient's name after a label, salutation or title,
// "Last, First" lists, and street addresses. They count as PHI only with
// health context (see doc.go), which is why they live beside the detector
// that knows where that context is.

// How a name was introduced.
const (
	nameLabel = iota // "Patient:", "Name:" (the generic ones need a colon)
	nameSalut        // "Dear", "Hola": the name ends the line or has a comma
	nameTitle        // "Mrs. Abernathy": e is the title itself
)

func (d *detector) tryName(e int, patient bool, mode int) {
	salut := mode == nameSalut
	t := d.t
	p := e
	colon := false
	for k := 0; k < 3 && p < len(t); k++ {
		c := t[p]
		if c == ':' {
			colon = true
		} else if c == 0xC2 && p+1 < len(t) && t[p+1] == 0xA0 {
			p++ // no-break space
		} else if c != ' ' && c != '\t' && c != '-' {
			break
		}
		p++
	}
	if mode == nameLabel && !patient && !colon {
		return // "Name:" and "Re:" need their colon
	}
	start, end, nw := -1, -1, 0
	for nw < 3 && p < len(t) {
		c := t[p]
		if !(isUpperByte(c) || (c == 0xC3 && p+1 < len(t) && t[p+1] >= 0x80 && t[p+1] <= 0x9E)) {
			break
		}
		q := p
		bl := 0
		h := hashInit
		for q < len(t) && (isLetterByte(t[q]) || (t[q] == '\'' && q+1 < len(t) && isLetterByte(t[q+1])) || (t[q] == '-' && q+1 < len(t) && isUpperByte(t[q+1]))) {
			c := lowerByte(t[q])
			if bl < len(d.buf) {
				d.buf[bl] = c
			}
			h = wordHash(h, c)
			bl++
			q++
		}
		if bl > len(d.buf) || bl < 2 {
			break
		}
		w := d.buf[:bl]
		switch string(w) {
		case "mr", "mrs", "ms", "miss", "mx", "sr", "sra", "srta", "don", "doña":
			p = q
			if p < len(t) && t[p] == '.' {
				p++
			}
			for p < len(t) && t[p] == ' ' {
				p++
			}
			continue
		case "dr", "doctor", "doctora", "dra", "prof", "professor", "nurse":
			return
		}
		if d.s.dict.lookup(h, w) != nil || d.s.dict.isNotName(h, w) {
			break
		}
		if start < 0 {
			start = p
		}
		end = q
		nw++
		p = q
		if p+1 < len(t) && t[p] == ' ' {
			p++
		} else if p+2 < len(t) && t[p] == ',' && t[p+1] == ' ' && !salut && nw == 1 {
			p += 2
		} else {
			break
		}
	}
	if nw == 0 {
		return
	}
	if salut {
		// A salutation's name ends the line or is followed by a comma.
		q := end
		for q < len(t) && t[q] == ' ' {
			q++
		}
		if q < len(t) && t[q] != ',' && t[q] != '\n' && t[q] != '\r' && t[q] != '!' && t[q] != ':' && t[q] != ';' {
			return
		}
	}
	d.person = true
	d.deferred = append(d.deferred, deferredHit{kind: kName, start: start, end: end, self: patient})
}

// tryCommaName records "Holloway, Grace" or "Garcia, 54F" (a surname, a
// comma, a given name or an age and sex) at [i,j). Such a name counts only
// with a health term on the same line (a clinic list, a chart note); see
// resolve.
func (d *detector) tryCommaName(i, j int) {
	t := d.t
	if j-i < 2 {
		return
	}
	// The surname starts a line, a parenthesis or a column ("08:00  Holloway,
	// Grace"), not the middle of a phrase ("Family Medicine, Springfield").
	// These byte checks come before the dictionary look-up because they
	// reject nearly every capitalised word followed by a comma.
	b := i
	for b > 0 && i-b < 40 && (t[b-1] == ' ' || t[b-1] == '\t') {
		b--
	}
	if b > 0 && i-b < 2 && t[b-1] != '\t' && t[b-1] != '\n' && t[b-1] != '\r' && t[b-1] != '(' && t[b-1] != '[' && t[b-1] != '|' && t[b-1] != ';' {
		return
	}
	if b > 0 && !(t[b-1] == '\n' || t[b-1] == '\r' || t[b-1] == '(' || t[b-1] == '[' || t[b-1] == '|' || t[b-1] == ';' || t[b-1] == '\t' || isDigit(t[b-1]) || t[b-1] == ':' || i-b >= 2) {
		return
	}
	if d.isDictWord(i, j) {
		return
	}
	p := j + 2
	q := p
	for q < len(t) && isLetterByte(t[q]) && t[q] < 0x80 {
		q++
	}
	switch {
	case q-p >= 2 && isUpperByte(t[p]) && !(q-p == 2 && isUpperByte(t[p+1])) && !d.isDictWord(p, q):
	default:
		// An age and sex: 54F, 7m, 81 M.
		q = p
		for q < len(t) && isDigit(t[q]) && q-p < 3 {
			q++
		}
		if q == p {
			return
		}
		if q < len(t) && t[q] == ' ' {
			q++
		}
		if q >= len(t) || (upper(t[q]) != 'M' && upper(t[q]) != 'F') {
			return
		}
		q++
	}
	if q < len(t) && isWordByte(t[q]) {
		return
	}
	// "Smith, Jones & Partners", "Smith, Jones and Co": firms, not people.
	r := q
	for r < len(t) && t[r] == ' ' {
		r++
	}
	if r < len(t) && (t[r] == '&' || hasPrefixFold(t[r:], "and ") || hasPrefixFold(t[r:], "y ")) {
		return
	}
	d.lineNames = append(d.lineNames, deferredHit{kind: kName, start: i, end: q, self: true})
}

// isDictWord reports whether t[i:j] is a dictionary or not-a-name word.
func (d *detector) isDictWord(i, j int) bool {
	if j-i > len(d.buf) {
		return false
	}
	h, bl := d.lower(i, j)
	w := d.buf[:bl]
	return d.s.dict.lookup(h, w) != nil || d.s.dict.isNotName(h, w)
}

// healthOnLine reports whether a health term lies on the same line as
// [s,e) and within 200 bytes of it.
func (d *detector) healthOnLine(s, e int) bool {
	lo, hi := s, e
	for lo > 0 && s-lo < 200 && d.t[lo-1] != '\n' {
		lo--
	}
	for hi < len(d.t) && hi-e < 200 && d.t[hi] != '\n' {
		hi++
	}
	k := sort.SearchInts(d.healthPos, lo)
	return k < len(d.healthPos) && d.healthPos[k] <= hi
}

// nameJustFound reports whether a name found after a salutation or label
// already covers position s ("Dear Mrs. Okafor" is one name, not two).
func (d *detector) nameJustFound(s int) bool {
	if len(d.deferred) == 0 {
		return false
	}
	h := d.deferred[len(d.deferred)-1]
	return h.kind == kName && h.start > s && h.start-s <= 6
}

// tryAddress is called at a capitalised street suffix: "123 Main Street".
func (d *detector) tryAddress(e int) {
	if !d.house.set {
		return
	}
	gap := d.words - d.house.word
	if gap < 2 || gap > 5 || d.lastLower > d.house.word {
		return
	}
	s := d.housePos
	if d.s.allowedAddress(d.t[s:], e-s) {
		return
	}
	d.deferred = append(d.deferred, deferredHit{kind: kAddress, start: s, end: e})
	d.house.set = false
}
