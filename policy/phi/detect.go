package phi

import "sort"

// The text detector: one left-to-right pass over a unit of decoded text
// (the subject, a body part, an attachment's extracted text). It splits the
// text into tokens with a byte-class table, looks words up in the dictionary
// (behind a Bloom filter), and hands digit runs to the number classifier.
// Labels ("SSN", "MRN#", "DOB") are remembered with their position and word
// index so that a value can ask "was I introduced by a label just before?".
// Everything is linear in the unit's length: each byte is visited a bounded
// number of times (phrase and name look-ahead read at most a few words).

const (
	cSep   = 0
	cLower = 1
	cUpper = 2
	cDigit = 3
	cHigh  = 4
)

// byteClass is a constant lookup table (computed by a function so that no
// package-level variable exists).
func byteClasses() [256]uint8 {
	var t [256]uint8
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cLower
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = cUpper
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = cHigh
	}
	return t
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isLetterByte(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' || c >= 0x80 }
func isWordByte(c byte) bool   { return isLetterByte(c) || isDigit(c) }
func isUpperByte(c byte) bool  { return c >= 'A' && c <= 'Z' }
func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

type mark struct {
	end, word int
	set       bool
}

type deferredHit struct {
	kind       kindID
	start, end int
	self       bool // carries its own health context (a "Patient:" label)
}

// sink receives findings from a detector.
type sink interface {
	emit(kind kindID, value []byte)
}

type detector struct {
	s     *Scanner
	out   sink
	t     []byte
	subj  bool // the subject had patient context: it applies to every unit
	words int

	lab       [numLabels]mark
	labEnd    int // end of the last label of any class (labels come in text order)
	neg       mark
	lastLower int
	house     mark
	housePos  int
	smallNum  mark
	smallPos  int
	pendLab   mark
	lastMed   mark
	abaSeen   bool
	health    bool
	person    bool // a name or date of birth was seen in this unit
	healthCtx bool // health terms count as patient context (the subject line)
	healthPos []int
	lineNames []deferredHit
	ctx       []int
	deferred  []deferredHit
	icdLater  []deferredHit
	ctxInUnit bool
	buf       [64]byte
	dbuf      [40]byte
}

func (d *detector) reset(t []byte, subjCtx, healthCtx bool) {
	ctx, def, icd, hp, ln := d.ctx[:0], d.deferred[:0], d.icdLater[:0], d.healthPos[:0], d.lineNames[:0]
	s, out := d.s, d.out
	*d = detector{s: s, out: out, t: t, subj: subjCtx, healthCtx: healthCtx, ctx: ctx, deferred: def, icdLater: icd, healthPos: hp, lineNames: ln}
	d.lastLower = -1
}

func (d *detector) addCtx(pos int) {
	d.ctx = append(d.ctx, pos)
	d.ctxInUnit = true
}

func (d *detector) emit(k kindID, s, e int) {
	if s < 0 {
		s = 0
	}
	if e > len(d.t) {
		e = len(d.t)
	}
	if len(d.s.allowVals) > 0 && d.s.allowedValue(k, d.t[s:e]) { // no call without an allow-list
		return
	}
	d.out.emit(k, d.t[s:e])
	switch k {
	case kLab, kMRN, kPlan, kMBI:
		d.addCtx(s)
	}
}

// labelNear reports whether label l ended at most maxBytes before pos and at
// most maxWords tokens before the current one.
func (d *detector) labelNear(l labelClass, pos, maxBytes, maxWords int) bool {
	m := d.lab[l]
	return m.set && pos >= m.end && pos-m.end <= maxBytes && d.words-m.word <= maxWords
}

// negCloser reports whether a negative label ("order", "invoice") sits right
// before pos and closer than the positive label l.
func (d *detector) negCloser(l labelClass, pos int) bool {
	if !d.neg.set || pos-d.neg.end > 24 || d.words-d.neg.word > 3 {
		return false
	}
	return !d.lab[l].set || d.lab[l].end < d.neg.end
}

func (d *detector) run() {
	t := d.t
	n := len(t)
	cls := &d.s.cls
	i := 0
	for i < n {
		c := t[i]
		k := cls[c]
		if k == cSep {
			i++
			continue
		}
		if k == cHigh && highSep(t, i) {
			i += highLen(c)
			continue
		}
		// Find the token's end with a tight loop; only tokens that pass the
		// dictionary prefilter are lower-cased and hashed.
		j := i
		digits := 0
		high := false
		for {
			// Tight inner loop over letters (cLower and cUpper are 1 and 2;
			// cSep wraps around to 255).
			j = letterEnd(t, j, cls)
			if j >= n {
				break
			}
			c = t[j]
			k = cls[c]
			if k == cDigit {
				// A run of digits in one tight loop too.
				d0 := j
				for j++; j < n && cls[t[j]] == cDigit; j++ {
				}
				digits += j - d0
				continue
			}
			if k == cHigh {
				if highSep(t, j) {
					break
				}
				high = true
				j++
				continue
			}
			if c == '\'' && j > i && j+1 < n && isLetterByte(t[j+1]) {
				j++
				continue
			}
			break
		}
		if j == i { // a stray high byte that is not a letter
			i++
			continue
		}
		d.words++
		if digits == j-i {
			i = d.number(i)
			continue
		}
		next := j
		if high || d.s.dict.pre(t[i], t[min(i+1, j-1)], t[j-1], j-i) {
			var h uint32
			var bl int
			if high {
				h, bl = d.lower(i, j)
			} else {
				h, bl = d.lowerASCII(i, j)
			}
			if bl <= len(d.buf) && d.s.dict.mayHave(h) {
				if e := d.s.dict.lookup(h, d.buf[:bl]); e != nil {
					tm, end := d.matchPhrases(e, j)
					d.onTerm(tm, i, end, isUpperByte(t[i]) || t[i] >= 0x80)
					next = end
					if t[i] >= 'a' && t[i] <= 'z' {
						d.lastLower = d.words
					}
					if digits > 0 {
						if e2 := d.alnum(i, j); e2 > next {
							next = e2
						}
					}
					i = next
					continue
				}
			}
		}
		if t[i] >= 'a' && t[i] <= 'z' {
			d.lastLower = d.words
		} else if digits == 0 && j+2 < n && t[j] == ',' && t[j+1] == ' ' && isUpperByte(t[i]) {
			d.tryCommaName(i, j)
		}
		if digits > 0 {
			if e2 := d.alnum(i, j); e2 > next {
				next = e2
			}
		}
		i = next
	}
}

// letterEnd returns the end of the run of ASCII letters that starts at j
// (cLower and cUpper are 1 and 2; cSep wraps around to 255). Ranging over
// the rest of t keeps the loop free of bounds checks.
func letterEnd(t []byte, j int, cls *[256]uint8) int {
	for k, c := range t[j:] {
		if cls[c]-1 >= 2 {
			return j + k
		}
	}
	return len(t)
}

// lower copies t[i:j] lower-cased into d.buf (folding Latin-1 capitals
// and the curly apostrophe) and returns its hash and length.
func (d *detector) lower(i, j int) (uint32, int) {
	t := d.t
	h := hashInit
	bl := 0
	for k := i; k < j; k++ {
		c := t[k]
		switch {
		case c == 0xE2 && k+2 < j && t[k+1] == 0x80 && t[k+2] == 0x99:
			c = '\''
			k += 2
		case c == 0xC3 && k+1 < j && t[k+1] >= 0x80 && t[k+1] <= 0x9E && t[k+1] != 0x97:
			if bl < len(d.buf) {
				d.buf[bl] = 0xC3
			}
			bl++
			h = wordHash(h, 0xC3)
			k++
			c = t[k] + 0x20
		default:
			c = lowerByte(c)
		}
		if bl < len(d.buf) {
			d.buf[bl] = c
		}
		bl++
		h = wordHash(h, c)
	}
	return h, bl
}

// lowerASCII is lower for a token without bytes >= 0x80 (the tokenizer
// knows): no Latin-1 capitals or curly apostrophes to fold, so each byte is
// just lower-cased. Most words take this path.
func (d *detector) lowerASCII(i, j int) (uint32, int) {
	h := hashInit
	buf := d.buf[:]
	for k, c := range d.t[i:j] {
		if c-'A' < 26 {
			c += 'a' - 'A'
		}
		if k < len(buf) {
			buf[k] = c
		}
		h = wordHash(h, c)
	}
	return h, j - i
}

// highSep reports whether the UTF-8 sequence at t[i] is punctuation or a
// space: U+0080-U+00BF (NBSP, «, °, ...) and U+2000-U+206F except U+2019.
func highSep(t []byte, i int) bool {
	c := t[i]
	if c == 0xC2 {
		return true
	}
	if c == 0xE2 && i+2 < len(t) && t[i+1] == 0x80 {
		if t[i+2] == 0x99 && i+3 < len(t) && isLetterByte(t[i+3]) && i > 0 && isLetterByte(t[i-1]) {
			return false
		}
		return true
	}
	if c == 0xE2 && i+1 < len(t) && t[i+1] == 0x81 {
		return true
	}
	if c == 0xEF && i+2 < len(t) && t[i+1] == 0xBB && t[i+2] == 0xBF { // BOM
		return true
	}
	return false
}

func highLen(c byte) int {
	switch {
	case c >= 0xF0:
		return 4
	case c >= 0xE0:
		return 3
	case c >= 0xC0:
		return 2
	}
	return 1
}

// matchPhrases returns the longest phrase starting with entry e whose first
// word ends at j, or the single-word term.
func (d *detector) matchPhrases(e *entry, j int) (term, int) {
	best, bestEnd := e.term, j
	if len(e.phrases) == 0 {
		return best, bestEnd
	}
	// Peek at the next word's first letter to skip most phrases cheaply.
	q := j
	for q < len(d.t) && q-j < 4 && !isWordByte(d.t[q]) {
		q++
	}
	if q >= len(d.t) {
		return best, bestEnd
	}
	first := lowerByte(d.t[q])
	if first < 0x80 && !e.highFirst && e.firsts[first>>6]&(1<<(first&63)) == 0 {
		return best, bestEnd // no phrase continues with this letter
	}
	bestLen := 0
	for pi := range e.phrases {
		p := &e.phrases[pi]
		if len(p.rest) <= bestLen || (p.first != first && p.first < 0x80 && first < 0x80) {
			continue
		}
		if end, ok := matchRest(d.t, j, p.rest); ok {
			best, bestEnd, bestLen = p.term, end, len(p.rest)
		}
	}
	return best, bestEnd
}

func matchRest(t []byte, pos int, rest []string) (int, bool) {
	for _, w := range rest {
		skipped := 0
		for pos < len(t) && skipped < 3 {
			c := t[pos]
			if c == ' ' || c == '-' || c == '/' || c == '.' || c == '#' || c == ':' || c == '\t' || c == '\n' || c == '\r' {
				pos++
				skipped++
				continue
			}
			if c == 0xC2 && pos+1 < len(t) && t[pos+1] == 0xA0 {
				pos += 2
				skipped++
				continue
			}
			break
		}
		if skipped == 0 || pos+len(w) > len(t) {
			return 0, false
		}
		for k := 0; k < len(w); k++ {
			c := t[pos+k]
			if c == 0xC3 && k+1 < len(w) && pos+k+1 < len(t) && t[pos+k+1] >= 0x80 && t[pos+k+1] <= 0x9E {
				if w[k] != 0xC3 || w[k+1] != t[pos+k+1]+0x20 {
					return 0, false
				}
				k++
				continue
			}
			if lowerByte(c) != w[k] {
				if !(w[k] == '\'' && c == 0xE2 && pos+k+2 < len(t) && t[pos+k+1] == 0x80 && t[pos+k+2] == 0x99) {
					return 0, false
				}
				pos += 2 // the curly apostrophe is two bytes longer
			}
		}
		pos += len(w)
		if pos < len(t) && isWordByte(t[pos]) {
			return 0, false
		}
	}
	return pos, true
}

func (d *detector) onTerm(tm term, s, e int, capital bool) {
	f := tm.flags
	if tm.label != lNone {
		d.lab[tm.label] = mark{end: e, word: d.words, set: true}
		d.labEnd = e
		switch tm.label {
		case lName:
			d.tryName(e, true, nameLabel)
		case lGName:
			d.tryName(e, false, nameLabel)
		}
	}
	if f == 0 {
		return
	}
	if f&fNeg != 0 {
		d.neg = mark{end: e, word: d.words, set: true}
	}
	if f&fCtx != 0 {
		d.addCtx(s)
	}
	if f&(fMed|fCond|fProc) != 0 {
		var k kindID
		switch {
		case f&fMed != 0:
			k = kMedication
			d.lastMed = mark{end: e, word: d.words, set: true}
		case f&fCond != 0:
			k = kDiagnosis
		default:
			k = kProcedure
		}
		d.health = true
		d.healthPos = append(d.healthPos, s)
		d.emit(k, s, e)
		if d.healthCtx || possessiveBefore(d.t, s) {
			d.addCtx(s)
		}
	}
	if f&fLab != 0 {
		d.pendLab = mark{end: e, word: d.words, set: true}
		d.health = true
		d.healthPos = append(d.healthPos, s)
		if d.healthCtx || possessiveBefore(d.t, s) {
			d.addCtx(s)
		}
	}
	if f&fResult != 0 && d.pendLab.set && d.words-d.pendLab.word <= 3 {
		d.emit(kLab, s, e)
		d.pendLab.set = false
	}
	if f&fSalut != 0 {
		d.tryName(e, false, nameSalut)
	}
	if f&fTitle != 0 && capital && (s == 0 || !d.nameJustFound(s)) {
		d.tryName(s, false, nameTitle)
	}
	if f&fStreet != 0 && capital {
		d.tryAddress(e)
	}
	if f&fMonth != 0 {
		d.tryMonthDate(s, e, tm.month)
	}
}

// tryName looks for a person's name right after a label or salutation:
// one to three capitalised words (titles skipped), none of them a
// dictionary word. Names after "Dr." are providers and are ignored.
// tryMonthDate parses "March 14, 1962", "Mar. 14 1962", "14 March 1962" and
// "14 de marzo de 1962" around a month word at [s,e).
func (d *detector) tryMonthDate(s, e int, month uint8) {
	t := d.t
	p := e
	if p < len(t) && t[p] == '.' {
		p++
	}
	skipSp := func() {
		for p < len(t) && (t[p] == ' ' || t[p] == ',') {
			p++
		}
	}
	readNum := func(minD, maxD int) (int, bool) {
		q := p
		v := 0
		for q < len(t) && isDigit(t[q]) && q-p <= maxD {
			v = v*10 + int(t[q]-'0')
			q++
		}
		if q-p < minD || q-p > maxD || (q < len(t) && isWordByte(t[q])) {
			return 0, false
		}
		p = q
		return v, true
	}
	start := s
	day := 0
	skipSp()
	if v, ok := readNum(1, 2); ok {
		day = v
		if p+1 < len(t) && (t[p] == 's' || t[p] == 'n' || t[p] == 'r' || t[p] == 't') && (t[p+1] == 't' || t[p+1] == 'd' || t[p+1] == 'h') {
			p += 2 // 1st, 2nd, 3rd, 4th
		}
		skipSp()
	} else if d.smallNum.set && d.words-d.smallNum.word <= 2 && s-d.smallNum.end <= 5 {
		start = d.smallPos
		day = atoi(t[start:d.smallNum.end])
		if p+3 < len(t) && t[p] == 'd' && t[p+1] == 'e' && t[p+2] == ' ' {
			p += 3
		}
	} else {
		return
	}
	year, ok := readNum(4, 4)
	if !ok || year < 1890 || year > 2100 || day < 1 || day > 31 || month < 1 || month > 12 {
		return
	}
	d.pendLab.set = false
	if d.lab[lDOB].set && start >= d.lab[lDOB].end && start-d.lab[lDOB].end <= 40 && d.words-d.lab[lDOB].word <= 6 {
		d.person = true
		d.emit(kDOB, start, p)
	}
}

// possessiveBefore reports whether "your", "his", "her", "su", "sus" or
// "tu" is one of the two words before position s ("your blood sugar",
// "your new medication").
func possessiveBefore(t []byte, s int) bool {
	p := s
	for w := 0; w < 2; w++ {
		for p > 0 && !isWordByte(t[p-1]) {
			p--
			if s-p > 24 {
				return false
			}
		}
		e := p
		for p > 0 && isWordByte(t[p-1]) {
			p--
		}
		if e-p <= 4 && e-p >= 2 {
			// The word packed into an integer, one lower-cased byte per
			// octet; word bytes are never zero, so words of different
			// lengths pack differently.
			var v uint32
			for _, c := range t[p:e] {
				v = v<<8 | uint32(lowerByte(c))
			}
			switch v {
			case 'y'<<24 | 'o'<<16 | 'u'<<8 | 'r', // your
				'h'<<16 | 'i'<<8 | 's', // his
				'h'<<16 | 'e'<<8 | 'r', // her
				's'<<8 | 'u',           // su
				's'<<16 | 'u'<<8 | 's', // sus
				't'<<8 | 'u':           // tu
				return true
			}
		}
		if s-p > 40 {
			return false
		}
	}
	return false
}

// comparativeBetween reports whether the text between a lab test name and
// a number says the number is a target or range ("below 7%", "keep it
// under 100"), not a result.
func comparativeBetween(t []byte, from, to int) bool {
	if to > len(t) {
		to = len(t)
	}
	for k := from; k < to; k++ {
		if t[k] == '<' || t[k] == '>' || t[k] == 0xE2 { // <, >, ≤, ≥
			return true
		}
	}
	i := from
	for i < to {
		for i < to && !isLetterByte(t[i]) {
			i++
		}
		j := i
		for j < to && isLetterByte(t[j]) {
			j++
		}
		if j-i >= 2 && j-i <= 9 {
			var b [9]byte
			for k := i; k < j; k++ {
				b[k-i] = lowerByte(t[k])
			}
			switch string(b[:j-i]) {
			case "below", "under", "above", "over", "less", "than", "more", "target", "goal", "aim", "keep", "between", "range", "normal", "should", "typically", "usually", "every", "per", "after", "before", "within", "by", "least", "most", "menor", "mayor", "debajo", "from":
				return true
			}
		}
		i = j
	}
	return false
}

// resolve emits the findings that waited for health context.
func (d *detector) resolve(window int) {
	if !sort.IntsAreSorted(d.ctx) {
		sort.Ints(d.ctx)
	}
	for _, h := range d.deferred {
		if h.kind == kSSN && d.person {
			h.self = true
		}
		if h.self || d.subj || d.ctxNear(h.start, window) {
			d.emit(h.kind, h.start, h.end)
		}
	}
	if len(d.lineNames) > 0 && !sort.IntsAreSorted(d.healthPos) {
		sort.Ints(d.healthPos)
	}
	for _, h := range d.lineNames {
		if d.healthOnLine(h.start, h.end) {
			d.person = true
			d.emit(h.kind, h.start, h.end)
		}
	}
	if d.health || d.ctxInUnit {
		for _, h := range d.icdLater {
			d.emit(kICD10, h.start, h.end)
		}
	}
}

func (d *detector) ctxNear(pos, window int) bool {
	// d.ctx is sorted by resolve; find the first position >= pos-window.
	i := sort.SearchInts(d.ctx, pos-window)
	return i < len(d.ctx) && d.ctx[i] <= pos+window
}
