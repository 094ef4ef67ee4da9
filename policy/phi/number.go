package phi

// Number and alphanumeric-token classification.

const maxGroups = 8

type numTok struct {
	ng    int
	gpos  [maxGroups]int
	glen  [maxGroups]int
	sep   [maxGroups]byte // sep[k] joins group k and k+1
	end   int
	paren bool // the first group was written "(555)"
}

// parseNum reads digit groups joined by single separators starting at i.
func parseNum(t []byte, i int, nt *numTok) {
	n := len(t)
	j := i
	nt.ng = 0
	nt.paren = i > 0 && t[i-1] == '('
	for {
		gs := j
		for j < n && isDigit(t[j]) {
			j++
		}
		nt.gpos[nt.ng] = gs
		nt.glen[nt.ng] = j - gs
		nt.ng++
		if nt.ng == maxGroups || j >= n-1 {
			break
		}
		c := t[j]
		if (c == '-' || c == '.' || c == '/' || c == ' ') && isDigit(t[j+1]) {
			nt.sep[nt.ng-1] = c
			j++
			continue
		}
		if c == ')' && nt.ng == 1 && nt.paren && j-gs == 3 {
			k := j + 1
			if k < n && t[k] == ' ' {
				k++
			}
			if k < n && isDigit(t[k]) {
				nt.sep[0] = ')'
				j = k
				continue
			}
		}
		break
	}
	nt.end = j
}

// digitsOf copies the digits of groups [g, g+m) into d.dbuf.
func (d *detector) digitsOf(nt *numTok, g, m int) []byte {
	b := d.dbuf[:0]
	for k := g; k < g+m && k < nt.ng; k++ {
		p := nt.gpos[k]
		for q := p; q < p+nt.glen[k]; q++ {
			if len(b) == cap(b) {
				return b
			}
			b = append(b, d.t[q])
		}
	}
	return b
}

// group returns the digits of group g: one group is contiguous in the text,
// so unlike digitsOf this needs no copy (and no 40-digit cap: callers only
// use it for short groups).
func (d *detector) group(nt *numTok, g int) []byte {
	return d.t[nt.gpos[g] : nt.gpos[g]+nt.glen[g]]
}

func groupsIs(nt *numTok, g int, lens ...int) bool {
	if nt.ng-g < len(lens) {
		return false
	}
	for k, l := range lens {
		if nt.glen[g+k] != l {
			return false
		}
	}
	return true
}

func sameSep(nt *numTok, g, m int, allowed string) bool {
	s := nt.sep[g]
	for k := g; k < g+m-1; k++ {
		if nt.sep[k] != s {
			return false
		}
	}
	for i := 0; i < len(allowed); i++ {
		if allowed[i] == s {
			return true
		}
	}
	return false
}

func (d *detector) number(i int) int {
	var nt numTok
	parseNum(d.t, i, &nt)
	// Digits glued to letters ("2024-01-05T10") are not identifiers; the
	// last group is left to the alphanumeric path.
	if nt.end < len(d.t) && isLetterByte(d.t[nt.end]) && d.t[nt.end] < 0x80 {
		if nt.ng == 1 {
			e := nt.end
			for e < len(d.t) && isWordByte(d.t[e]) {
				e++
			}
			d.alnum(i, e)
			return e
		}
		nt.ng--
		nt.end = nt.gpos[nt.ng] - 1
	}
	for g := 0; g < nt.ng; {
		g += d.classify(&nt, g)
	}
	return nt.end
}

func (d *detector) groupEnd(nt *numTok, g int) int { return nt.gpos[g] + nt.glen[g] }

// classify interprets groups starting at g and returns how many it used.
func (d *detector) classify(nt *numTok, g int) int {
	t := d.t
	pos := nt.gpos[g]
	avail := nt.ng - g

	if avail >= 3 { // every multi-group format has at least three groups
		// SSN: 3-2-4, dashed (alone) or spaced (with a label).
		if groupsIs(nt, g, 3, 2, 4) && sameSep(nt, g, 3, "- ") {
			dg := d.digitsOf(nt, g, 3)
			if validSSN(dg) {
				switch {
				case d.labelNear(lSSN, pos, 40, 5):
					d.emit(kSSN, pos, d.groupEnd(nt, g+2))
				case nt.sep[g] == '-' && !d.negCloser(lSSN, pos):
					// Unlabelled: an SSN only if a person or patient context is
					// in the same text (decided at the end of the unit).
					d.deferred = append(d.deferred, deferredHit{kind: kSSN, start: pos, end: d.groupEnd(nt, g+2)})
				}
			}
			return 3
		}
		// Payment cards written in groups (every layout starts with four
		// digits, which rules out most numbers before the layouts are tried).
		if nt.glen[g] == 4 {
			for _, lens := range [][]int{{4, 4, 4, 4, 3}, {4, 4, 4, 4}, {4, 6, 5}, {4, 6, 4}} {
				if groupsIs(nt, g, lens...) && sameSep(nt, g, len(lens), "- ") {
					dg := d.digitsOf(nt, g, len(lens))
					if validCard(dg) && (d.labelNear(lCard, pos, 60, 8) || !d.negCloser(lCard, pos)) {
						d.emit(kCard, pos, d.groupEnd(nt, g+len(lens)-1))
						return len(lens)
					}
				}
			}
		}
		// NANP phone numbers: (555) 123-4567, 555-123-4567, 555.123.4567, 1-555-123-4567.
		if g == 0 && nt.paren && groupsIs(nt, 0, 3, 3, 4) && nt.sep[0] == ')' && (nt.sep[1] == '-' || nt.sep[1] == ' ' || nt.sep[1] == '.') {
			d.phone(nt, 0, 3, pos-1)
			return 3
		}
		if groupsIs(nt, g, 3, 3, 4) && sameSep(nt, g, 3, "-. ") {
			d.phone(nt, g, 3, pos)
			return 3
		}
		if groupsIs(nt, g, 1, 3, 3, 4) && t[pos] == '1' && sameSep(nt, g, 4, "-. ") {
			d.phone(nt, g+1, 3, pos)
			return 4
		}
		// NDC: 4-4-2, 5-3-2, 5-4-1 and the 11-digit 5-4-2.
		if avail >= 3 && sameSep(nt, g, 3, "-") {
			if groupsIs(nt, g, 4, 4, 2) || groupsIs(nt, g, 5, 3, 2) || groupsIs(nt, g, 5, 4, 1) || groupsIs(nt, g, 5, 4, 2) {
				if d.labelNear(lNDC, pos, 80, 10) || (d.lastMed.set && pos-d.lastMed.end <= 80) {
					d.emit(kNDC, pos, d.groupEnd(nt, g+2))
				}
				return 3
			}
		}
		// Dates: M/D/Y, D.M.Y, Y-M-D.
		if avail >= 3 && sameSep(nt, g, 3, "/-.") {
			a, b, c := nt.glen[g], nt.glen[g+1], nt.glen[g+2]
			if (a <= 2 && b <= 2 && (c == 2 || c == 4)) || (a == 4 && b <= 2 && c <= 2) {
				d.pendLab.set = false
				if d.validDate(nt, g) && d.labelNear(lDOB, pos, 40, 6) {
					d.person = true
					d.emit(kDOB, pos, d.groupEnd(nt, g+2))
				}
				return 3
			}
		}
	}
	// Lab values: "7.2", "140/90", "5.4 mmol/L" (never a clock time).
	isTime := (pos >= 2 && t[pos-1] == ':' && isDigit(t[pos-2])) || (d.groupEnd(nt, g)+1 < len(t) && t[d.groupEnd(nt, g)] == ':' && isDigit(t[d.groupEnd(nt, g)+1]))
	if isTime {
		d.pendLab.set = false
	}
	if d.pendLab.set && pos-d.pendLab.end <= 40 && d.words-d.pendLab.word <= 6 {
		m := 1
		dec := false
		if avail >= 2 && (nt.sep[g] == '.' || (nt.sep[g] == '/' && nt.glen[g+1] <= 3)) && (avail == 2 || nt.sep[g+1] == ' ') {
			m = 2
			dec = true
		}
		end := d.groupEnd(nt, g+m-1)
		if comparativeBetween(t, d.pendLab.end, pos) {
			d.pendLab.set = false
		} else if dec || hasUnit(t, end) || d.pendLab.end == pos || colonBefore(t, d.pendLab.end, pos) {
			d.emit(kLab, d.pendLab.end, end)
			d.pendLab.set = false
			return m
		}
	}
	// Medication with a dose ("metformin 500 mg") is a prescription.
	if d.lastMed.set && d.words-d.lastMed.word <= 3 && hasDoseUnit(t, d.groupEnd(nt, g)) {
		d.addCtx(pos)
	}
	// Single-group values: the cases below only take these lengths.
	if l := nt.glen[g]; avail >= 1 && (l == 5 || l >= 9 && l <= 19) {
		dg := d.group(nt, g) // l <= 19
		end := d.groupEnd(nt, g)
		switch {
		case l == 9 && d.labelNear(lSSN, pos, 40, 5):
			if validSSN(dg) {
				d.emit(kSSN, pos, end)
			}
			return 1
		case l == 9 && d.labelNear(lABA, pos, 40, 5):
			if validABA(dg) {
				d.abaSeen = true
				d.emit(kBank, pos, end)
			}
			return 1
		case l >= 13 && l <= 19 && validCard(dg) && (d.labelNear(lCard, pos, 60, 8) || !d.negCloser(lCard, pos)):
			d.emit(kCard, pos, end)
			return 1
		case l == 10 && d.labelNear(lNPI, pos, 40, 5):
			if validNPI(dg) {
				d.emit(kNPI, pos, end)
			}
			return 1
		case (l == 10 || l == 11) && d.labelNear(lNDC, pos, 40, 5):
			d.emit(kNDC, pos, end)
			return 1
		case (l == 10 || (l == 11 && dg[0] == '1')) && d.labelNear(lPhone, pos, 30, 4):
			d.phoneDigits(dg[l-10:], pos, end)
			return 1
		case l == 5 && d.labelNear(lCPT, pos, 80, 12) && !d.negCloser(lCPT, pos):
			if v := atoi(dg); v >= 100 && v <= 99499 {
				d.emit(kCPT, pos, end)
			}
			return 1
		}
	}
	// A labelled identifier: the whole run of groups is the value.
	if used := d.labelledValue(nt, g); used > 0 {
		return used
	}
	if avail >= 1 && nt.glen[g] <= 6 {
		d.house = mark{end: d.groupEnd(nt, g), word: d.words, set: true}
		d.housePos = pos
		if nt.glen[g] <= 2 {
			d.smallNum = mark{end: d.groupEnd(nt, g), word: d.words, set: true}
			d.smallPos = pos
		}
	}
	return 1
}

func atoi(b []byte) int {
	v := 0
	for _, c := range b {
		v = v*10 + int(c-'0')
	}
	return v
}

func (d *detector) validDate(nt *numTok, g int) bool {
	// Date groups have at most four digits.
	a := atoi(d.group(nt, g))
	b := atoi(d.group(nt, g+1))
	c := atoi(d.group(nt, g+2))
	y, m, dd := c, a, b
	if nt.glen[g] == 4 {
		y, m, dd = a, b, c
	} else if a > 12 {
		m, dd = b, a
	}
	if nt.glen[g] != 4 && nt.glen[g+2] == 2 {
		y += 1900
	}
	return m >= 1 && m <= 12 && dd >= 1 && dd <= 31 && y >= 1890 && y <= 2100
}

// labelledValue handles values introduced by MRN, member ID, driver's
// license and account labels: digits (possibly grouped) of length 5-20.
func (d *detector) labelledValue(nt *numTok, g int) int {
	pos := nt.gpos[g]
	if pos-d.labEnd > 30 {
		return 0 // no label at all within closestIDLabel's 30 bytes
	}
	m := 1
	for g+m < nt.ng && (nt.sep[g+m-1] == '-' || nt.sep[g+m-1] == ' ') {
		m++
	}
	total := 0
	for k := g; k < g+m; k++ {
		total += nt.glen[k]
	}
	if total < 5 || total > 20 {
		return 0
	}
	k, ok := d.closestIDLabel(pos)
	if !ok {
		return 0
	}
	d.emit(k, pos, d.groupEnd(nt, g+m-1))
	return m
}

// closestIDLabel picks the nearest of the identifier labels before pos.
func (d *detector) closestIDLabel(pos int) (kindID, bool) {
	best, bestEnd := kindID(0), -1
	try := func(l labelClass, k kindID) {
		if d.labelNear(l, pos, 30, 4) && d.lab[l].end > bestEnd {
			best, bestEnd = k, d.lab[l].end
		}
	}
	try(lMRN, kMRN)
	try(lPlan, kPlan)
	try(lDL, kDL)
	try(lMBI, kPlan) // "Medicare ID: 123456789A" (legacy HICN) identifies a beneficiary
	if d.lab[lBank].set || d.abaSeen {
		try(lAccount, kBank)
		try(lBank, kBank)
	}
	if bestEnd < 0 || (d.neg.set && d.neg.end > bestEnd && pos-d.neg.end <= 24) {
		return 0, false
	}
	return best, true
}

func (d *detector) phone(nt *numTok, g, m, start int) {
	dg := d.digitsOf(nt, g, m)
	d.phoneDigits(dg, start, d.groupEnd(nt, g+m-1))
}

func (d *detector) phoneDigits(dg []byte, start, end int) {
	if len(dg) != 10 || dg[0] < '2' || dg[3] < '2' {
		return
	}
	if d.s.allowedPhone(dg) {
		return
	}
	d.deferred = append(d.deferred, deferredHit{kind: kPhone, start: start, end: end})
}

func colonBefore(t []byte, from, to int) bool {
	for k := from; k < to && k < len(t); k++ {
		if t[k] == ':' || t[k] == '=' {
			return true
		}
	}
	return false
}

// hasUnit reports whether a laboratory unit follows position p.
func hasUnit(t []byte, p int) bool {
	for p < len(t) && t[p] == ' ' {
		p++
	}
	if p >= len(t) {
		return false
	}
	if t[p] == '%' {
		return true
	}
	for _, u := range [...]string{"mg/dl", "mmol/l", "g/dl", "mg/l", "ng/ml", "pg/ml", "u/l", "iu/l", "miu/l", "uiu/ml", "meq/l", "k/ul", "x10", "cells/", "mm/hr", "mmhg", "bpm", "copies", "µ", "ng/dl", "umol/l", "ml/min", "kg/m"} {
		if hasPrefixFold(t[p:], u) {
			return true
		}
	}
	return false
}

func hasDoseUnit(t []byte, p int) bool {
	for p < len(t) && t[p] == ' ' {
		p++
	}
	for _, u := range [...]string{"mg", "mcg", "ml", "units", "unit", "tablet", "tab", "capsule", "puff"} {
		if hasPrefixFold(t[p:], u) {
			return true
		}
	}
	return false
}

func hasPrefixFold(b []byte, p string) bool {
	if len(b) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if lowerByte(b[i]) != p[i] {
			return false
		}
	}
	return true
}

// alnum classifies a token of letters and digits at [i,j) and returns the
// position scanning should resume from (at least j).
func (d *detector) alnum(i, j int) int {
	t := d.t
	tok := t[i:j]
	n := len(tok)
	// Medicare Beneficiary Identifier, plain or 4-3-4 dashed.
	if n == 11 && validMBI(tok) {
		if d.labelNear(lMBI, i, 60, 8) || !d.negCloser(lMBI, i) {
			d.emit(kMBI, i, j)
		}
		return j
	}
	if n == 4 && j+9 <= len(t) && t[j] == '-' && t[j+4] == '-' {
		var b [11]byte
		copy(b[:4], tok)
		copy(b[4:7], t[j+1:j+4])
		copy(b[7:], t[j+5:j+9])
		if (j+9 == len(t) || !isWordByte(t[j+9])) && validMBI(b[:]) {
			if d.labelNear(lMBI, i, 60, 8) || !d.negCloser(lMBI, i) {
				d.emit(kMBI, i, j+9)
			}
			return j + 9
		}
	}
	// DEA registration number (needs its label).
	if n == 9 && validDEA(tok) && d.labelNear(lDEA, i, 60, 8) {
		d.emit(kDEA, i, j)
		return j
	}
	// ICD-10-CM: E11, E11.9, E119, J45.909, S72.001A.
	if n >= 3 && n <= 7 && isUpperByte(tok[0]) && isDigit(tok[1]) {
		e := j
		var b [8]byte
		copy(b[:], tok)
		m := n
		dotted := false
		if n == 3 && j+1 < len(t) && t[j] == '.' && isWordByte(t[j+1]) {
			q := j + 1
			for q < len(t) && isWordByte(t[q]) && q-j <= 5 {
				q++
			}
			if q-j-1 <= 4 && (q == len(t) || !isWordByte(t[q])) {
				m += copy(b[3:], t[j+1:q])
				e = q
				dotted = true
			}
		}
		if validICD10(b[:m]) {
			if d.labelNear(lICD, i, 100, 16) {
				d.emit(kICD10, i, e)
				return e
			}
			if dotted {
				d.icdLater = append(d.icdLater, deferredHit{kind: kICD10, start: i, end: e})
				return e
			}
		}
	}
	// HCPCS level II (J1100) and CPT category II/III (3008F, 0042T) with a label.
	if n == 5 && d.labelNear(lCPT, i, 80, 12) {
		if (isUpperByte(tok[0]) && tok[0] <= 'V' && allDigits(tok[1:])) || (allDigits(tok[:4]) && (tok[4] == 'F' || tok[4] == 'T')) {
			d.emit(kCPT, i, j)
			return j
		}
	}
	// Lab values glued to their unit: "7.2%" is handled as a number, this
	// is "140mg/dL".
	if d.pendLab.set && isDigit(tok[0]) && i-d.pendLab.end <= 40 {
		k := 0
		for k < n && isDigit(tok[k]) {
			k++
		}
		if hasUnit(t, i+k) && !comparativeBetween(t, d.pendLab.end, i) {
			d.emit(kLab, d.pendLab.end, j)
			d.pendLab.set = false
			return j
		}
	}
	if d.lastMed.set && isDigit(tok[0]) && d.words-d.lastMed.word <= 3 {
		k := 0
		for k < n && isDigit(tok[k]) {
			k++
		}
		if hasDoseUnit(t, i+k) {
			d.addCtx(i)
		}
	}
	// Labelled identifiers with letters: "MRN: AB1234567", "Member ID XJH889911".
	digits := 0
	for _, c := range tok {
		if isDigit(c) {
			digits++
		}
	}
	e := j
	for e+1 < len(t) && t[e] == '-' && isWordByte(t[e+1]) && e-i < 24 {
		e++
		for e < len(t) && isWordByte(t[e]) {
			if isDigit(t[e]) {
				digits++
			}
			e++
		}
	}
	if digits >= 4 && e-i >= 5 && e-i <= 24 {
		if k, ok := d.closestIDLabel(i); ok {
			d.emit(k, i, e)
			return e
		}
	}
	return j
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return len(b) > 0
}
