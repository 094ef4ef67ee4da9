package phi

import (
	"strconv"
	"strings"
)

// termFlags say what a dictionary word or phrase means to the detectors.
type termFlags uint32

const (
	fMed termFlags = 1 << iota
	fCond
	fProc
	fLab
	fCtx
	fNeg
	fSalut
	fTitle
	fStreet
	fResult
	fMonth
)

// labelClass is the identifier a label introduces.
type labelClass uint8

const (
	lNone labelClass = iota
	lSSN
	lMRN
	lAccount
	lBank
	lDOB
	lNPI
	lDEA
	lMBI
	lPlan
	lDL
	lABA
	lICD
	lCPT
	lNDC
	lCard
	lPhone
	lName  // a patient label: the name after it is a patient's
	lGName // a generic label ("Name:", "Re:"): needs health context
	numLabels
)

func labelByName(s string) labelClass {
	switch s {
	case "ssn":
		return lSSN
	case "mrn":
		return lMRN
	case "account":
		return lAccount
	case "bank":
		return lBank
	case "dob":
		return lDOB
	case "npi":
		return lNPI
	case "dea":
		return lDEA
	case "mbi":
		return lMBI
	case "plan":
		return lPlan
	case "dl":
		return lDL
	case "aba":
		return lABA
	case "icd":
		return lICD
	case "cpt":
		return lCPT
	case "ndc":
		return lNDC
	case "card":
		return lCard
	case "phone":
		return lPhone
	case "name":
		return lName
	case "gname":
		return lGName
	}
	return lNone
}

type term struct {
	flags termFlags
	label labelClass
	month uint8
}

type phrase struct {
	rest  []string // following words, lower case
	first byte     // rest[0][0], kept inline for the hot loop
	term  term
}

type entry struct {
	term    term // meaning of the word alone; zero when it only starts phrases
	phrases []phrase
	// firsts is the set of ASCII first bytes of the phrases' second words
	// and highFirst says whether one starts with a non-ASCII byte: most
	// dictionary words ("your", "medical") are followed by a word that no
	// phrase continues with, and this lets matchPhrases return at once.
	firsts    [2]uint64
	highFirst bool
}

const bloomBits = 1 << 16

// dictionary maps lower-case words to entries. A small Bloom filter over the
// word hash lets the hot loop skip the map for nearly every ordinary word.
type dictionary struct {
	words map[string]*entry // used while building
	// notName holds words that cannot start a person's name ("Dear
	// Patient", "Hi Team"); kept out of words so that the hot loop never
	// looks these common words up.
	notName wordTable
	bloom   [bloomBits / 64]uint64
	// table holds words, keyed by the scanner's own word hash, so the hot
	// loop never hashes a word twice.
	table wordTable
	// prefix is a cheaper first filter on (first letter, second letter,
	// last letter, length) of ASCII words, checked before a word is even
	// hashed. Case does not matter: only the low five bits of each letter
	// are used.
	prefix [1 << 15 / 64]uint64
}

// preIndex folds a word's first, second and last bytes (the second is the
// first again for a one-letter word) and its length into 15 bits.
func preIndex(first, second, last byte, n int) uint32 {
	x := uint32(first&31)<<10 | uint32(second&31)<<5 | uint32(last&31)
	return x ^ uint32(n&31)*(1<<10|1<<5|1)
}

// pre reports whether an ASCII word with these bytes and length may be in
// the dictionary.
func (d *dictionary) pre(first, second, last byte, n int) bool {
	x := preIndex(first, second, last, n)
	return d.prefix[x>>6]&(1<<(x&63)) != 0
}

type slot struct {
	hash uint32
	key  string
	e    *entry
}

// wordTable is an open-addressing hash table of lower-case words keyed by
// wordHash. The name and comma-name checks look words up in it with the
// hash they computed while lower-casing, instead of hashing the word again
// for a Go map.
type wordTable struct {
	slots []slot
	mask  uint32
}

func newWordTable(words map[string]*entry) wordTable {
	n := uint32(16)
	for n < uint32(4*len(words)) {
		n <<= 1
	}
	wt := wordTable{slots: make([]slot, n), mask: n - 1}
	for k, e := range words {
		h := hashInit
		for i := 0; i < len(k); i++ {
			h = wordHash(h, k[i])
		}
		i := h & wt.mask
		for wt.slots[i].e != nil {
			i = (i + 1) & wt.mask
		}
		wt.slots[i] = slot{hash: h, key: k, e: e}
	}
	return wt
}

// find returns the entry of the lower-case word w whose hash is h, or nil.
func (wt *wordTable) find(h uint32, w []byte) *entry {
	for i := h & wt.mask; ; i = (i + 1) & wt.mask {
		sl := &wt.slots[i]
		if sl.e == nil {
			return nil
		}
		if sl.hash == h && sl.key == string(w) {
			return sl.e
		}
	}
}

// lookup finds a lower-case dictionary word whose hash is h.
func (d *dictionary) lookup(h uint32, w []byte) *entry { return d.table.find(h, w) }

// isNotName reports whether the lower-case word w (hash h) is a not-a-name
// word.
func (d *dictionary) isNotName(h uint32, w []byte) bool { return d.notName.find(h, w) != nil }

func (d *dictionary) buildSlots() {
	d.table = newWordTable(d.words)
	for k := range d.words {
		x := preIndex(k[0], k[min(1, len(k)-1)], k[len(k)-1], len(k))
		d.prefix[x>>6] |= 1 << (x & 63)
	}
}

func wordHash(h uint32, c byte) uint32 { return (h ^ uint32(c)) * 16777619 }

const hashInit uint32 = 2166136261

func (d *dictionary) mayHave(h uint32) bool {
	b := h & (bloomBits - 1)
	return d.bloom[b>>6]&(1<<(b&63)) != 0
}

// splitWords splits a dictionary entry the way the scanner splits text.
func splitWords(s string) []string {
	var out []string
	cur := []byte{}
	flush := func() {
		if len(cur) > 0 {
			out = append(out, string(cur))
			cur = cur[:0]
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' && len(cur) > 0 && i+1 < len(s) && isLetterByte(s[i+1]):
			cur = append(cur, c)
		case isWordByte(c):
			cur = append(cur, lowerByte(c))
		default:
			flush()
		}
	}
	flush()
	return out
}

func (d *dictionary) add(text string, t term) {
	ws := splitWords(text)
	if len(ws) == 0 {
		return
	}
	e := d.words[ws[0]]
	if e == nil {
		e = &entry{}
		d.words[ws[0]] = e
		h := hashInit
		for i := 0; i < len(ws[0]); i++ {
			h = wordHash(h, ws[0][i])
		}
		b := h & (bloomBits - 1)
		d.bloom[b>>6] |= 1 << (b & 63)
	}
	if len(ws) == 1 {
		merge(&e.term, t)
		return
	}
	for i := range e.phrases {
		if strings.Join(e.phrases[i].rest, " ") == strings.Join(ws[1:], " ") {
			merge(&e.phrases[i].term, t)
			return
		}
	}
	first := ws[1][0]
	if first >= 0x80 {
		e.highFirst = true
	} else {
		e.firsts[first>>6] |= 1 << (first & 63)
	}
	e.phrases = append(e.phrases, phrase{rest: ws[1:], first: first, term: t})
}

func merge(dst *term, t term) {
	dst.flags |= t.flags
	if t.label != lNone && dst.label == lNone {
		dst.label = t.label
	}
	if t.month != 0 {
		dst.month = t.month
	}
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// buildDictionary parses the embedded lists plus extra words from Options.
func buildDictionary(extraMeds, extraConds, extraProcs []string) *dictionary {
	d := &dictionary{words: make(map[string]*entry, 2048)}
	notName := map[string]*entry{}
	for _, w := range lines(notNameWords) {
		notName[w] = &entry{} // any non-nil entry: the table is a set
	}
	d.notName = newWordTable(notName)
	addList := func(list string, f termFlags) {
		for _, w := range lines(list) {
			d.add(w, term{flags: f})
		}
	}
	// Labels first so that a label's own meaning is kept when a word is also
	// a health term (for example "diagnosis").
	for _, l := range lines(labelWords) {
		text, cls, _ := strings.Cut(l, "\t")
		d.add(text, term{label: labelByName(strings.TrimSpace(cls))})
	}
	for _, l := range lines(monthWords) {
		text, n, _ := strings.Cut(l, "\t")
		v, _ := strconv.Atoi(strings.TrimSpace(n))
		d.add(text, term{flags: fMonth, month: uint8(v)})
	}
	addList(medicationWords, fMed)
	addList(conditionWords, fCond)
	addList(procedureWords, fProc)
	addList(labTestWords, fLab)
	addList(contextWords, fCtx)
	// Longer phrases that are not patient context although they start
	// like one ("your prescription drug coverage").
	for _, w := range lines(neutralPhrases) {
		d.add(w, term{})
	}
	addList(negativeWords, fNeg)
	addList(salutationWords, fSalut)
	addList(titleWords, fTitle)
	addList(streetSuffixWords, fStreet)
	addList(resultWords, fResult)
	for _, w := range extraMeds {
		d.add(w, term{flags: fMed})
	}
	for _, w := range extraConds {
		d.add(w, term{flags: fCond})
	}
	for _, w := range extraProcs {
		d.add(w, term{flags: fProc})
	}
	d.buildSlots()
	return d
}
