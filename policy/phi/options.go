package phi

import (
	"fmt"
	"regexp"
	"strings"
)

// Defaults used when an Options field is zero.
const (
	DefaultScanLimit     = 25 << 20 // bytes of decoded content per message
	DefaultThreshold     = 1.0
	DefaultContextWindow = 600 // bytes either side of a weak identifier
	DefaultMaxDepth      = 10  // nested multiparts, message/rfc822 and archives
	DefaultMaxParts      = 500 // MIME parts and archive members per message
)

// Options configure a Scanner. The zero value is valid and gives the
// documented defaults.
type Options struct {
	// ScanLimit bounds the decoded bytes (text parts, attachment bytes and
	// decompressed archive members) read per message. Content beyond it is
	// reported as unscannable. 0 means DefaultScanLimit.
	ScanLimit int64
	// Threshold is the score at or above which identifier + health
	// findings make a message PHI. 0 means DefaultThreshold.
	Threshold float64
	// ContextWindow is how near (in bytes) patient context must be to a
	// name, address or phone number. 0 means DefaultContextWindow.
	ContextWindow int
	// MaxDepth and MaxParts bound nesting and part counts; beyond them the
	// rest is unscannable. 0 means the defaults.
	MaxDepth int
	MaxParts int

	// Weights overrides the weight of built-in or custom kinds by name.
	Weights map[string]float64
	// Standalone overrides whether a kind decides alone (true) or needs
	// health context (false), by name. For example {"credit_card": true}.
	Standalone map[string]bool

	// Rules are custom detectors (regular expressions and keyword lists).
	Rules []Rule
	// MRNPatterns are RE2 expressions for the organisation's own medical
	// record number formats; a match is an "mrn" finding without a label.
	MRNPatterns []string

	// AllowPhones, AllowAddresses and AllowValues never count: the
	// organisation's own phone numbers, street addresses and identifiers
	// (its NPI, DEA number, group number...). Phones compare by digits,
	// addresses by their leading "number street suffix" words, values by
	// letters and digits, all case-insensitively.
	AllowPhones    []string
	AllowAddresses []string
	AllowValues    []string

	// Extra dictionary terms.
	ExtraMedications []string
	ExtraConditions  []string
	ExtraProcedures  []string

	// InlineImagesUnscannable makes inline images (logos, signatures) count
	// as unscannable; by default only attached images do.
	InlineImagesUnscannable bool
	// SkipImageAttachments ignores attached images instead of reporting
	// them unscannable.
	SkipImageAttachments bool
	// HideAttachmentNames reports attachments as "attachment:#N" instead of
	// "attachment:NAME", for callers that log findings and worry that file
	// names may themselves carry PHI.
	HideAttachmentNames bool
}

// Rule is a custom detector. Exactly one of Pattern and Keywords is set.
type Rule struct {
	// Kind is the finding kind it produces: a built-in name or a new one
	// (lower case letters, digits and underscores).
	Kind string
	// Pattern is an RE2 regular expression (linear time by construction).
	Pattern string
	// Keywords are words or phrases, matched case-insensitively on word
	// boundaries.
	Keywords []string
	// Weight of the kind in the score (new kinds only; 0 means 1).
	Weight float64
	// Standalone makes a new kind decide alone.
	Standalone bool
	// Health makes a new kind health information rather than an identifier.
	Health bool
	// Context, when set, are words of which one must appear within Window
	// bytes of the match for it to count.
	Context []string
	// Window for Context; 0 means 100 bytes.
	Window int
}

type compiledRule struct {
	kind    kindID
	re      *regexp.Regexp
	context *regexp.Regexp
	window  int
}

func validKindName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '_' {
			return false
		}
	}
	return true
}

func (r *Rule) compile(kindOf func(string, *Rule) kindID) (compiledRule, error) {
	if !validKindName(r.Kind) {
		return compiledRule{}, fmt.Errorf("rule kind %q: use lower case letters, digits and _", r.Kind)
	}
	var expr string
	switch {
	case r.Pattern != "" && len(r.Keywords) > 0:
		return compiledRule{}, fmt.Errorf("rule %q: set pattern or keywords, not both", r.Kind)
	case r.Pattern != "":
		expr = r.Pattern
	case len(r.Keywords) > 0:
		expr = wordsRegexp(r.Keywords)
	default:
		return compiledRule{}, fmt.Errorf("rule %q: needs a pattern or keywords", r.Kind)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return compiledRule{}, fmt.Errorf("rule %q: %v", r.Kind, err)
	}
	cr := compiledRule{kind: kindOf(r.Kind, r), re: re, window: r.Window}
	if cr.window <= 0 {
		cr.window = 100
	}
	if len(r.Context) > 0 {
		cr.context = regexp.MustCompile(wordsRegexp(r.Context))
	}
	return cr, nil
}

func wordsRegexp(words []string) string {
	q := make([]string, 0, len(words))
	for _, w := range words {
		if w = strings.TrimSpace(w); w != "" {
			q = append(q, strings.Join(strings.Fields(regexp.QuoteMeta(w)), `\s+`))
		}
	}
	return `(?i)\b(?:` + strings.Join(q, "|") + `)\b`
}
