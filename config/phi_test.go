package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sealgate/sealgate/policy/phi"
)

const phiSection = `
phi:
  scan_limit: 10MiB
  threshold: 1.2
  context_window: 400
  weights:
    credit_card: 1.0
    employee_health_id: 2
  standalone:
    credit_card: true
  mrn_patterns: ['\bNF[0-9]{7}\b']
  rules:
    - kind: employee_health_id
      pattern: '\bEH-[0-9]{6}\b'
      standalone: true
    - kind: diagnosis
      keywords: [long covid, mpox]
      context: [diagnosed, positive]
      window: 80
  allow:
    phones: ["+1 217 555 0142"]
    addresses: ["420 Harbor View Blvd"]
    values: ["1234567893"]
  dictionaries:
    medications: [zorvanex]
    conditions_file: extra-conditions.txt
  images:
    inline_unscannable: true
  hide_attachment_names: true
`

func TestPHIConfigLoadAndOptions(t *testing.T) {
	path := writeConfig(t, "hostname: gw.example.com\n"+phiSection)
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "extra-conditions.txt"), []byte("# local terms\nfrostbite syndrome\n\ngrey lung\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	o, err := cfg.PHI.Options(cfg.BaseDir)
	if err != nil {
		t.Fatal(err)
	}
	if o.ScanLimit != 10<<20 || o.Threshold != 1.2 || o.ContextWindow != 400 || !o.HideAttachmentNames || !o.InlineImagesUnscannable {
		t.Errorf("scalars not translated: %+v", o)
	}
	if !slices.Contains(o.ExtraConditions, "grey lung") || !slices.Contains(o.ExtraMedications, "zorvanex") {
		t.Errorf("dictionaries not read: %v %v", o.ExtraConditions, o.ExtraMedications)
	}
	if len(o.Rules) != 2 || o.Rules[1].Window != 80 || o.Rules[0].Kind != "employee_health_id" {
		t.Errorf("rules not translated: %+v", o.Rules)
	}
	// The options build a working scanner that applies them.
	s, err := phi.New(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		kind string
		phi  bool
	}{
		{"ref EH-123456", "employee_health_id", true},
		{"chart NF1234567", phi.KindMRN, true},
		{"a history of grey lung", phi.KindDiagnosis, false},
		{"started zorvanex", phi.KindMedication, false},
		{"4111 1111 1111 1111", phi.KindCreditCard, true},
	} {
		res := s.ScanText(tc.text)
		if !slices.Contains(res.Kinds, tc.kind) || res.PHI != tc.phi {
			t.Errorf("%q: got %+v, want %s phi=%v", tc.text, res, tc.kind, tc.phi)
		}
	}
}

func TestPHIConfigZeroValueIsValid(t *testing.T) {
	var c PHIConfig
	var ps Problems
	c.Validate("phi", &ps)
	if len(ps) != 0 {
		t.Fatalf("zero value invalid: %v", ps)
	}
	o, err := c.Options("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := phi.New(o); err != nil {
		t.Fatal(err)
	}
}

func TestPHIConfigProblemsWithLines(t *testing.T) {
	path := writeConfig(t, `hostname: gw.example.com
phi:
  scan_limit: 1KiB
  threshold: -1
  weights:
    no_such_kind: 1
  standalone:
    also_unknown: true
  mrn_patterns: ['(?<=MRN)[0-9]+']
  rules:
    - kind: Bad Kind
      pattern: 'x'
    - kind: both
      pattern: 'x'
      keywords: [y]
    - kind: neither
    - kind: broken
      pattern: '('
      window: 50
  allow:
    phones: ["12345"]
`)
	_, err := Load(path)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %v", err)
	}
	want := map[string]int{
		"phi.scan_limit":              3,
		"phi.threshold":               4,
		"phi.weights.no_such_kind":    6,
		"phi.standalone.also_unknown": 8,
		"phi.mrn_patterns[0]":         9,
		"phi.rules[0].kind":           11,
		"phi.rules[1]":                13,
		"phi.rules[2]":                16,
		"phi.rules[3].pattern":        18,
		"phi.rules[3].window":         19,
		"phi.allow.phones[0]":         21,
	}
	got := map[string]int{}
	for _, p := range ce.Problems {
		got[p.Path] = p.Line
		if p.Message == "" {
			t.Errorf("%s: empty message", p.Path)
		}
	}
	for path, line := range want {
		l, ok := got[path]
		if !ok {
			t.Errorf("no problem reported at %s (got %v)", path, ce.Problems)
			continue
		}
		if l != line {
			t.Errorf("%s reported at line %d, want %d", path, l, line)
		}
	}
	if !strings.Contains(err.Error(), "RE2") {
		t.Errorf("pattern problems should explain RE2: %v", err)
	}
}

func TestPHIConfigUnknownKeyRejected(t *testing.T) {
	path := writeConfig(t, "hostname: gw.example.com\nphi:\n  scan_limt: 10MiB\n")
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "scan_limt") {
		t.Fatalf("typo not reported: %v", err)
	}
}

func TestPHIConfigMissingDictionaryFile(t *testing.T) {
	c := PHIConfig{Dictionaries: PHIDictionariesConfig{MedicationsFile: "nope.txt"}}
	if _, err := c.Options(t.TempDir()); err == nil || !strings.Contains(err.Error(), "phi.dictionaries.medications_file") {
		t.Fatalf("missing file not reported with its key: %v", err)
	}
}
