package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const phiMsg = "From: a@example.com\r\nTo: b@example.org\r\nSubject: intake\r\n\r\nPatient: Maria Okafor\r\nSSN: 512-44-8821\r\n"
const cleanMsg = "From: a@example.com\r\nTo: b@example.org\r\nSubject: lunch\r\n\r\nOrder 512-44-8821 shipped. Call 555-123-4567.\r\n"

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type scanOut struct {
	File     string   `json:"file"`
	PHI      bool     `json:"phi"`
	Kinds    []string `json:"kinds"`
	Score    float64  `json:"score"`
	Findings []struct {
		Kind  string `json:"kind"`
		Where string `json:"where"`
		Count int    `json:"count"`
	} `json:"findings"`
	Evidence []struct {
		Kind   string   `json:"kind"`
		Masked []string `json:"masked"`
	} `json:"evidence"`
}

func decodeLines(t *testing.T, out string) []scanOut {
	t.Helper()
	var res []scanOut
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var o scanOut
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		res = append(res, o)
	}
	return res
}

func TestScanCommandOutput(t *testing.T) {
	dir := t.TempDir()
	p1 := writeFile(t, dir, "a.eml", phiMsg)
	p2 := writeFile(t, dir, "b.eml", cleanMsg)
	var out, errb bytes.Buffer
	if code := runScan([]string{p1, p2}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	lines := decodeLines(t, out.String())
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %d: %s", len(lines), out.String())
	}
	if lines[0].File != p1 || !lines[0].PHI || lines[0].Score < 1 || len(lines[0].Findings) == 0 {
		t.Errorf("first line: %+v", lines[0])
	}
	if lines[1].File != p2 || lines[1].PHI || lines[1].Kinds == nil {
		t.Errorf("second line: %+v", lines[1])
	}
	for _, f := range lines[0].Findings {
		if f.Where != "body" || f.Count < 1 {
			t.Errorf("finding %+v", f)
		}
	}
	// Never the values, not even masked, without --explain.
	for _, leak := range []string{"512", "8821", "Okafor", "Maria", "evidence"} {
		if strings.Contains(out.String(), leak) {
			t.Errorf("output leaks %q: %s", leak, out.String())
		}
	}
}

func TestScanCommandExplain(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "a.eml", phiMsg)
	var out, errb bytes.Buffer
	// Flags after the file are accepted too.
	if code := runScan([]string{p, "--explain"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), `"***-**-8821"`) {
		t.Errorf("explain lacks masked SSN: %s", out.String())
	}
	if strings.Contains(out.String(), "512-44") || strings.Contains(out.String(), "Okafor") {
		t.Errorf("explain leaks unmasked values: %s", out.String())
	}
}

func TestScanCommandErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "a.eml", phiMsg)
	var out, errb bytes.Buffer
	code := runScan([]string{filepath.Join(dir, "missing.eml"), good, dir}, &out, &errb)
	if code != 1 {
		t.Errorf("exit %d, want 1 for unreadable files", code)
	}
	if !strings.Contains(errb.String(), "missing.eml: no such file") || !strings.Contains(errb.String(), "is a directory") {
		t.Errorf("stderr lacks clear errors: %q", errb.String())
	}
	if n := len(decodeLines(t, out.String())); n != 1 {
		t.Errorf("the readable file must still be scanned; got %d lines", n)
	}
	out.Reset()
	errb.Reset()
	if code := runScan(nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "no message files") {
		t.Errorf("no files: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := runScan([]string{"--bogus", good}, &out, &errb); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
}

func TestScanCommandConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "sealgate.yaml", `hostname: gw.example.com
phi:
  rules:
    - kind: employee_health_id
      pattern: '\bEH-[0-9]{6}\b'
      standalone: true
  allow:
    phones: ["217 555 0142"]
`)
	msg := writeFile(t, dir, "m.eml", "Subject: x\r\n\r\nReference EH-123456 for the badge.\r\n")
	var out, errb bytes.Buffer
	if code := runScan([]string{"--config", cfg, msg}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := decodeLines(t, out.String())
	if !lines[0].PHI || len(lines[0].Kinds) != 1 || lines[0].Kinds[0] != "employee_health_id" {
		t.Errorf("custom rule from config not applied: %+v", lines[0])
	}
	// Without the config the same message is clean.
	out.Reset()
	if code := runScan([]string{msg}, &out, &errb); code != 0 || decodeLines(t, out.String())[0].PHI {
		t.Errorf("without config: %s", out.String())
	}
	bad := writeFile(t, dir, "bad.yaml", "hostname: gw.example.com\nphi:\n  threshold: -3\n")
	errb.Reset()
	if code := runScan([]string{"--config", bad, msg}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "phi.threshold") {
		t.Errorf("bad config: exit %d, stderr %q", code, errb.String())
	}
}

func TestScanCommandCorpusSample(t *testing.T) {
	// The committed corpus files run through the CLI as an operator would.
	var out, errb bytes.Buffer
	files := []string{"../../testdata/phi/hand/pos-pdf-utf16-hex.eml", "../../testdata/phi/hand/neg-newsletter-dear-friend.eml"}
	if code := runScan(files, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := decodeLines(t, out.String())
	if !lines[0].PHI || lines[1].PHI {
		t.Errorf("corpus sample verdicts: %+v", lines)
	}
}
