package phi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Finding is one kind of PHI found in one place, with how often. It never
// carries the matched value.
type Finding struct {
	Kind  string `json:"kind"`
	Where string `json:"where"`
	Count int    `json:"count"`
}

// Result is the verdict for one message.
type Result struct {
	PHI      bool      `json:"phi"`
	Kinds    []string  `json:"kinds"`
	Score    float64   `json:"score"`
	Findings []Finding `json:"findings"`
}

// Evidence is a finding with masked examples of what matched (at most
// five), for `sealgate scan --explain`. Only ScanExplain produces it.
type Evidence struct {
	Kind   string   `json:"kind"`
	Where  string   `json:"where"`
	Masked []string `json:"masked"`
}

// Explanation is a Result with its evidence.
type Explanation struct {
	Result
	// PatientContext is true when patient-specific wording ("your lab
	// results", "diagnosed with", "Patient:") was seen; it adds to the score.
	PatientContext bool       `json:"patient_context"`
	Evidence       []Evidence `json:"evidence"`
}

// Scanner scans messages for PHI. It is immutable after New and safe for
// concurrent use.
type Scanner struct {
	limit     int64
	threshold float64
	window    int
	maxDepth  int
	maxParts  int
	opts      Options

	cls   [256]uint8
	dict  *dictionary
	kinds []kindInfo
	rules []compiledRule
	mrn   []*regexp.Regexp

	allowPhones map[string]bool
	allowAddrs  []string
	allowVals   map[string]bool

	pool    sync.Pool // *detector
	bufPool sync.Pool // *bytes.Buffer for part bodies
}

// New compiles the options into a Scanner.
func New(opts Options) (*Scanner, error) {
	s := &Scanner{
		limit:     opts.ScanLimit,
		threshold: opts.Threshold,
		window:    opts.ContextWindow,
		maxDepth:  opts.MaxDepth,
		maxParts:  opts.MaxParts,
		opts:      opts,
		cls:       byteClasses(),
	}
	if s.limit < 0 || s.threshold < 0 || s.window < 0 || s.maxDepth < 0 || s.maxParts < 0 {
		return nil, errors.New("phi: scan limit, threshold, context window, depth and parts must not be negative")
	}
	if s.limit == 0 {
		s.limit = DefaultScanLimit
	}
	if s.threshold == 0 {
		s.threshold = DefaultThreshold
	}
	if s.window == 0 {
		s.window = DefaultContextWindow
	}
	if s.maxDepth == 0 {
		s.maxDepth = DefaultMaxDepth
	}
	if s.maxParts == 0 {
		s.maxParts = DefaultMaxParts
	}
	s.dict = buildDictionary(opts.ExtraMedications, opts.ExtraConditions, opts.ExtraProcedures)
	s.kinds = builtinKinds()
	kindOf := func(name string, r *Rule) kindID {
		for i, k := range s.kinds {
			if k.name == name {
				return kindID(i)
			}
		}
		ki := kindInfo{name: name, weight: 1, class: ClassIdentifier}
		if r.Weight > 0 {
			ki.weight = r.Weight
		}
		if r.Standalone {
			ki.class = ClassStrong
		} else if r.Health {
			ki.class = ClassHealth
		}
		s.kinds = append(s.kinds, ki)
		return kindID(len(s.kinds) - 1)
	}
	for i := range opts.Rules {
		if len(s.kinds) >= 250 {
			return nil, errors.New("phi: too many custom kinds")
		}
		cr, err := opts.Rules[i].compile(kindOf)
		if err != nil {
			return nil, fmt.Errorf("phi: %w", err)
		}
		s.rules = append(s.rules, cr)
	}
	for _, p := range opts.MRNPatterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("phi: mrn pattern %q: %v", p, err)
		}
		s.mrn = append(s.mrn, re)
	}
	for name, w := range opts.Weights {
		id, ok := s.kindByName(name)
		if !ok {
			return nil, fmt.Errorf("phi: weight for unknown kind %q", name)
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("phi: weight for %q must be a non-negative number", name)
		}
		s.kinds[id].weight = w
	}
	for name, alone := range opts.Standalone {
		id, ok := s.kindByName(name)
		if !ok {
			return nil, fmt.Errorf("phi: standalone setting for unknown kind %q", name)
		}
		switch {
		case alone:
			s.kinds[id].class = ClassStrong
		case s.kinds[id].class == ClassStrong:
			s.kinds[id].class = ClassIdentifier
		}
	}
	s.allowPhones = map[string]bool{}
	for _, p := range opts.AllowPhones {
		d := onlyDigits(p)
		if len(d) == 11 && d[0] == '1' {
			d = d[1:]
		}
		if len(d) != 10 {
			return nil, fmt.Errorf("phi: allowed phone %q is not a 10-digit NANP number", p)
		}
		s.allowPhones[d] = true
	}
	for _, a := range opts.AllowAddresses {
		n := normAddr([]byte(a), len(a))
		if n == "" {
			return nil, fmt.Errorf("phi: allowed address %q is empty", a)
		}
		s.allowAddrs = append(s.allowAddrs, n)
	}
	s.allowVals = map[string]bool{}
	for _, v := range opts.AllowValues {
		if n := normValue([]byte(v)); n != "" {
			s.allowVals[n] = true
		}
	}
	s.pool.New = func() any { return &detector{s: s} }
	return s, nil
}

func (s *Scanner) kindByName(name string) (kindID, bool) {
	for i, k := range s.kinds {
		if k.name == name {
			return kindID(i), true
		}
	}
	return 0, false
}

func onlyDigits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// normAddr lower-cases the first n bytes of b, keeps letters and digits and
// collapses everything else to single spaces, and expands nothing: the
// allow-list entry must use the same suffix spelling as the mail ("St").
func normAddr(b []byte, n int) string {
	var out []byte
	space := false
	for i := 0; i < n && i < len(b); i++ {
		c := b[i]
		if isWordByte(c) {
			if space && len(out) > 0 {
				out = append(out, ' ')
			}
			space = false
			out = append(out, lowerByte(c))
		} else {
			space = true
		}
	}
	return string(out)
}

func normValue(b []byte) string {
	var out []byte
	for _, c := range b {
		if isWordByte(c) && c < 0x80 {
			out = append(out, upper(c))
		}
	}
	return string(out)
}

func (s *Scanner) allowedPhone(d []byte) bool {
	return len(s.allowPhones) > 0 && s.allowPhones[string(d)]
}

// allowedAddress reports whether the address starting at b[0] (its
// "number street suffix" part being n bytes long) is on the allow-list.
func (s *Scanner) allowedAddress(b []byte, n int) bool {
	if len(s.allowAddrs) == 0 {
		return false
	}
	a := normAddr(b, n)
	for _, x := range s.allowAddrs {
		if strings.HasPrefix(x, a) || strings.HasPrefix(a, x) {
			return true
		}
	}
	return false
}

func (s *Scanner) allowedValue(k kindID, v []byte) bool {
	if len(s.allowVals) == 0 || len(v) > 64 {
		return false
	}
	switch k {
	case kMedication, kDiagnosis, kProcedure, kLab:
		return false
	}
	return s.allowVals[normValue(v)]
}

// Scan reads one RFC 5322 message from r and returns its verdict. Content
// it cannot read becomes an "unscannable" finding; the error is only for a
// failing reader.
func (s *Scanner) Scan(r io.Reader) (*Result, error) {
	m := s.newMsg(false)
	defer m.done()
	if err := m.scanMessage(r); err != nil {
		return nil, err
	}
	res := m.result()
	return &res, nil
}

// ScanExplain is Scan with masked evidence. Its output contains partial
// values (the last four characters of identifiers) and must only go to an
// operator's terminal, never to logs or metrics.
func (s *Scanner) ScanExplain(r io.Reader) (*Explanation, error) {
	m := s.newMsg(true)
	defer m.done()
	if err := m.scanMessage(r); err != nil {
		return nil, err
	}
	ex := &Explanation{Result: m.result(), PatientContext: m.ctxAny}
	for _, c := range m.counts {
		ex.Evidence = append(ex.Evidence, Evidence{Kind: s.kinds[c.kind].name, Where: c.where, Masked: c.masked})
	}
	sort.Slice(ex.Evidence, func(i, j int) bool {
		a, b := ex.Evidence[i], ex.Evidence[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Where < b.Where
	})
	return ex, nil
}

// ScanText scans a piece of plain text as if it were a message body
// ("body"). It is for callers that already hold text, and for tests.
func (s *Scanner) ScanText(text string) *Result {
	m := s.newMsg(false)
	m.scanUnit("body", []byte(text))
	res := m.result()
	return &res
}

type count struct {
	kind   kindID
	where  string
	n      int
	masked []string
}

// msg is the state of one Scan call.
type msg struct {
	s        *Scanner
	explain  bool
	budget   int64
	parts    int
	nAttach  int
	stopped  bool
	where    string
	counts   []count
	ctxAny   bool
	subjCtx  bool
	bufs     []*bytes.Buffer
	index    map[countKey]int
	cur      []int32 // per kind: index+1 in counts for curWhere
	curWhere string
}

func (s *Scanner) newMsg(explain bool) *msg {
	return &msg{s: s, explain: explain, budget: s.limit}
}

func (m *msg) emit(k kindID, v []byte) {
	// The last entry is the usual hit; otherwise look the pair up.
	idx := -1
	if m.curWhere != m.where || m.cur == nil {
		// A new place: forget the per-kind shortcuts of the previous one.
		if m.cur == nil {
			m.cur = make([]int32, len(m.s.kinds))
		}
		clear(m.cur)
		m.curWhere = m.where
	}
	if c := m.cur[k]; c > 0 {
		idx = int(c - 1)
	} else if i, ok := m.index[countKey{k, m.where}]; ok {
		idx = i
		m.cur[k] = int32(i + 1)
	}
	if idx >= 0 {
		c := &m.counts[idx]
		c.n++
		if m.explain && len(c.masked) < 5 {
			c.masked = append(c.masked, mask(v))
		}
		return
	}
	c := count{kind: k, where: m.where, n: 1}
	if m.explain {
		c.masked = []string{mask(v)}
	}
	if m.index == nil {
		m.index = map[countKey]int{}
	}
	m.index[countKey{k, m.where}] = len(m.counts)
	m.cur[k] = int32(len(m.counts) + 1)
	m.counts = append(m.counts, c)
}

type countKey struct {
	kind  kindID
	where string
}

func (m *msg) unscannable(where string) {
	old := m.where
	m.where = where
	m.emit(kUnscannable, nil)
	m.where = old
}

// scanUnit runs the detectors over one piece of decoded text.
func (m *msg) scanUnit(where string, text []byte) {
	if len(text) == 0 {
		return
	}
	m.where = where
	d := m.s.pool.Get().(*detector)
	d.out = m
	d.reset(text, m.subjCtx, where == "subject")
	d.run()
	for i := range m.s.rules {
		m.s.rules[i].apply(d)
	}
	for _, re := range m.s.mrn {
		for _, loc := range re.FindAllIndex(text, -1) {
			d.emit(kMRN, loc[0], loc[1])
		}
	}
	d.resolve(m.s.window)
	if d.ctxInUnit {
		m.ctxAny = true
		if where == "subject" {
			m.subjCtx = true
		}
	}
	d.t = nil
	d.out = nil
	m.s.pool.Put(d)
}

func (cr *compiledRule) apply(d *detector) {
	for _, loc := range cr.re.FindAllIndex(d.t, -1) {
		if cr.context != nil {
			lo, hi := loc[0]-cr.window, loc[1]+cr.window
			if lo < 0 {
				lo = 0
			}
			if hi > len(d.t) {
				hi = len(d.t)
			}
			if !cr.context.Match(d.t[lo:hi]) {
				continue
			}
		}
		d.emit(cr.kind, loc[0], loc[1])
	}
}

// result computes the verdict. See doc.go for the rule.
func (m *msg) result() Result {
	kinds := m.s.kinds
	seen := make([]bool, len(kinds))
	for _, c := range m.counts {
		seen[c.kind] = true
	}
	var score float64
	strong, ident, health := false, false, false
	res := Result{Kinds: []string{}, Findings: []Finding{}}
	for id, ok := range seen {
		if !ok {
			continue
		}
		k := kinds[id]
		score += k.weight
		switch k.class {
		case ClassStrong:
			strong = true
		case ClassIdentifier:
			ident = true
		case ClassHealth:
			health = true
		}
		res.Kinds = append(res.Kinds, k.name)
	}
	if m.ctxAny {
		score += contextPseudoWeight
	}
	res.Score = math.Round(score*100) / 100
	res.PHI = strong || (res.Score >= m.s.threshold && ident && (health || m.ctxAny))
	sort.Strings(res.Kinds)
	for _, c := range m.counts {
		res.Findings = append(res.Findings, Finding{Kind: kinds[c.kind].name, Where: c.where, Count: c.n})
	}
	sort.Slice(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i], res.Findings[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Where < b.Where
	})
	return res
}

// mask keeps the last four letters or digits of a value and replaces the
// other letters and digits with '*', keeping separators: ***-**-6789.
// Words (names, medications) keep only their first letter.
func mask(v []byte) string {
	if len(v) > 64 {
		v = v[:64]
	}
	digits, letters := 0, 0
	for _, c := range v {
		if isDigit(c) {
			digits++
		} else if isLetterByte(c) {
			letters++
		}
	}
	out := []byte(string(v))
	if digits == 0 || letters > 2*digits {
		start := true
		for i, c := range out {
			if isWordByte(c) {
				if !start {
					out[i] = '*'
				}
				start = false
			} else {
				start = true
			}
		}
		return strings.ToValidUTF8(string(out), "*")
	}
	keep := 4
	if digits < 8 {
		keep = 2
	}
	for i := len(out) - 1; i >= 0; i-- {
		if isWordByte(out[i]) {
			if keep > 0 {
				keep--
				continue
			}
			out[i] = '*'
		}
	}
	return strings.ToValidUTF8(string(out), "*")
}
