package config

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sealgate/sealgate/policy/phi"
)

// PHIConfig is the `phi:` section: how policy/phi scans messages. Every key
// is optional; the zero value gives the scanner's defaults.
type PHIConfig struct {
	// ScanLimit bounds decoded content per message (default 25MiB); beyond
	// it the message is unscannable, which policy treats as PHI.
	ScanLimit ByteSize `yaml:"scan_limit"`
	// Threshold is the score from which identifiers plus health context make
	// a message PHI (default 1.0).
	Threshold float64 `yaml:"threshold"`
	// ContextWindow is how near, in bytes, health context must be to a name,
	// address or phone number (default 600).
	ContextWindow int `yaml:"context_window"`
	// MaxDepth and MaxParts bound MIME/archive nesting and part counts
	// (defaults 10 and 500).
	MaxDepth int `yaml:"max_depth"`
	MaxParts int `yaml:"max_parts"`
	// Weights and Standalone override per-kind weights and whether a kind
	// decides alone, e.g. {credit_card: true}.
	Weights    map[string]float64 `yaml:"weights"`
	Standalone map[string]bool    `yaml:"standalone"`
	// MRNPatterns are the organisation's own MRN formats (RE2 syntax).
	MRNPatterns []string `yaml:"mrn_patterns"`
	// Rules are custom detectors.
	Rules []PHIRuleConfig `yaml:"rules"`
	// Allow lists values that never count (the organisation's own).
	Allow PHIAllowConfig `yaml:"allow"`
	// Dictionaries adds terms to the embedded dictionaries.
	Dictionaries PHIDictionariesConfig `yaml:"dictionaries"`
	// Images chooses what happens to image parts.
	Images PHIImagesConfig `yaml:"images"`
	// HideAttachmentNames reports findings as attachment:#N, not by file name.
	HideAttachmentNames bool `yaml:"hide_attachment_names"`
}

// PHIRuleConfig is one custom detector: a pattern or a keyword list.
type PHIRuleConfig struct {
	Kind       string   `yaml:"kind"`
	Pattern    string   `yaml:"pattern"`
	Keywords   []string `yaml:"keywords"`
	Weight     float64  `yaml:"weight"`
	Standalone bool     `yaml:"standalone"`
	Health     bool     `yaml:"health"`
	Context    []string `yaml:"context"`
	Window     int      `yaml:"window"`
}

// PHIAllowConfig lists the organisation's own phones, addresses and
// identifiers (its NPI, DEA number, group number).
type PHIAllowConfig struct {
	Phones    []string `yaml:"phones"`
	Addresses []string `yaml:"addresses"`
	Values    []string `yaml:"values"`
}

// PHIDictionariesConfig adds dictionary terms inline or from files (one term
// per line, '#' starts a comment; relative paths are relative to the config
// file's folder).
type PHIDictionariesConfig struct {
	Medications     []string `yaml:"medications"`
	Conditions      []string `yaml:"conditions"`
	Procedures      []string `yaml:"procedures"`
	MedicationsFile string   `yaml:"medications_file"`
	ConditionsFile  string   `yaml:"conditions_file"`
	ProceduresFile  string   `yaml:"procedures_file"`
}

// PHIImagesConfig: attached images are unscannable unless skip_attachments;
// inline images (logos, signatures) are skipped unless inline_unscannable.
type PHIImagesConfig struct {
	InlineUnscannable bool `yaml:"inline_unscannable"`
	SkipAttachments   bool `yaml:"skip_attachments"`
}

func kindNameOK(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
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

// Validate records every problem of the section under path (normally "phi").
func (c *PHIConfig) Validate(path string, p *Problems) {
	if c.ScanLimit != 0 && c.ScanLimit < 64<<10 {
		p.Add(Join(path, "scan_limit"), "%d bytes is too small to scan ordinary mail; use at least 64KiB (default 25MiB)", int64(c.ScanLimit))
	}
	if c.Threshold < 0 || math.IsNaN(c.Threshold) || math.IsInf(c.Threshold, 0) {
		p.Add(Join(path, "threshold"), "must be a positive number (default 1.0)")
	}
	if c.ContextWindow < 0 {
		p.Add(Join(path, "context_window"), "must not be negative (bytes; default 600)")
	}
	if c.MaxDepth < 0 {
		p.Add(Join(path, "max_depth"), "must not be negative (default 10)")
	}
	if c.MaxParts < 0 {
		p.Add(Join(path, "max_parts"), "must not be negative (default 500)")
	}
	kinds := map[string]bool{}
	for _, k := range phi.KindNames() {
		kinds[k] = true
	}
	for i, r := range c.Rules {
		rp := Join(path, fmt.Sprintf("rules[%d]", i))
		if !kindNameOK(r.Kind) {
			p.Add(Join(rp, "kind"), "%q is not a kind name (lower case letters, digits and _, e.g. employee_health_id)", r.Kind)
		} else {
			kinds[r.Kind] = true
		}
		switch {
		case r.Pattern != "" && len(r.Keywords) > 0:
			p.Add(rp, "set either pattern or keywords, not both (make two rules)")
		case r.Pattern == "" && len(r.Keywords) == 0:
			p.Add(rp, "needs a pattern (RE2 regular expression) or keywords")
		case r.Pattern != "":
			if _, err := regexp.Compile(r.Pattern); err != nil {
				p.Add(Join(rp, "pattern"), "invalid RE2 expression: %v (lookarounds and backreferences are not supported)", err)
			}
		}
		for j, k := range r.Keywords {
			if strings.TrimSpace(k) == "" {
				p.Add(Join(rp, fmt.Sprintf("keywords[%d]", j)), "must not be empty")
			}
		}
		if r.Weight < 0 || math.IsNaN(r.Weight) {
			p.Add(Join(rp, "weight"), "must not be negative (0 means 1)")
		}
		if r.Window < 0 {
			p.Add(Join(rp, "window"), "must not be negative (bytes; 0 means 100)")
		}
		if r.Window != 0 && len(r.Context) == 0 {
			p.Add(Join(rp, "window"), "only applies with context words; add context or remove window")
		}
	}
	for k, w := range c.Weights {
		if !kinds[k] {
			p.Add(Join(Join(path, "weights"), k), "unknown kind; use one of %s or a custom rule's kind", strings.Join(phi.KindNames(), ", "))
		}
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			p.Add(Join(Join(path, "weights"), k), "must be a non-negative number")
		}
	}
	for k := range c.Standalone {
		if !kinds[k] {
			p.Add(Join(Join(path, "standalone"), k), "unknown kind; use one of %s or a custom rule's kind", strings.Join(phi.KindNames(), ", "))
		}
	}
	for i, re := range c.MRNPatterns {
		if _, err := regexp.Compile(re); err != nil {
			p.Add(Join(path, fmt.Sprintf("mrn_patterns[%d]", i)), "invalid RE2 expression: %v", err)
		}
	}
	for i, ph := range c.Allow.Phones {
		d := phiDigits(ph)
		if len(d) == 11 && d[0] == '1' {
			d = d[1:]
		}
		if len(d) != 10 {
			p.Add(Join(path, fmt.Sprintf("allow.phones[%d]", i)), "%q is not a 10-digit North American number (e.g. \"+1 217 555 0142\")", ph)
		}
	}
	for i, a := range c.Allow.Addresses {
		if strings.TrimSpace(a) == "" {
			p.Add(Join(path, fmt.Sprintf("allow.addresses[%d]", i)), "must not be empty (e.g. \"420 Harbor View Blvd\")")
		}
	}
	for i, v := range c.Allow.Values {
		if strings.TrimSpace(v) == "" {
			p.Add(Join(path, fmt.Sprintf("allow.values[%d]", i)), "must not be empty")
		}
	}
}

func phiDigits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// Options translates the section into phi.Options, reading dictionary
// files relative to baseDir.
func (c *PHIConfig) Options(baseDir string) (phi.Options, error) {
	o := phi.Options{
		ScanLimit:               int64(c.ScanLimit),
		Threshold:               c.Threshold,
		ContextWindow:           c.ContextWindow,
		MaxDepth:                c.MaxDepth,
		MaxParts:                c.MaxParts,
		Weights:                 c.Weights,
		Standalone:              c.Standalone,
		MRNPatterns:             c.MRNPatterns,
		AllowPhones:             c.Allow.Phones,
		AllowAddresses:          c.Allow.Addresses,
		AllowValues:             c.Allow.Values,
		ExtraMedications:        append([]string(nil), c.Dictionaries.Medications...),
		ExtraConditions:         append([]string(nil), c.Dictionaries.Conditions...),
		ExtraProcedures:         append([]string(nil), c.Dictionaries.Procedures...),
		InlineImagesUnscannable: c.Images.InlineUnscannable,
		SkipImageAttachments:    c.Images.SkipAttachments,
		HideAttachmentNames:     c.HideAttachmentNames,
	}
	for _, r := range c.Rules {
		o.Rules = append(o.Rules, phi.Rule{Kind: r.Kind, Pattern: r.Pattern, Keywords: r.Keywords, Weight: r.Weight, Standalone: r.Standalone, Health: r.Health, Context: r.Context, Window: r.Window})
	}
	for _, f := range []struct {
		key, file string
		dst       *[]string
	}{
		{"phi.dictionaries.medications_file", c.Dictionaries.MedicationsFile, &o.ExtraMedications},
		{"phi.dictionaries.conditions_file", c.Dictionaries.ConditionsFile, &o.ExtraConditions},
		{"phi.dictionaries.procedures_file", c.Dictionaries.ProceduresFile, &o.ExtraProcedures},
	} {
		if f.file == "" {
			continue
		}
		terms, err := phiReadTerms(phiPath(baseDir, f.file))
		if err != nil {
			return phi.Options{}, fmt.Errorf("%s: %w", f.key, err)
		}
		*f.dst = append(*f.dst, terms...)
	}
	return o, nil
}

func phiPath(baseDir, p string) string {
	if filepath.IsAbs(p) || baseDir == "" {
		return p
	}
	return filepath.Join(baseDir, p)
}

// phiReadTerms reads one term per line; blank lines and '#' comments are skipped.
func phiReadTerms(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}
