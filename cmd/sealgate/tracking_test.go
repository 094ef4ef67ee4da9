package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type trackingClassifyOut struct {
	Key     string `json:"key"`
	Index   int    `json:"index"`
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
}

func trackingRunClassify(t *testing.T, args ...string) (int, []trackingClassifyOut, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runTracking(args, &stdout, &stderr)
	var out []trackingClassifyOut
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var o trackingClassifyOut
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("output line is not JSON: %q", sc.Text())
		}
		out = append(out, o)
	}
	return code, out, stderr.String()
}

func trackingWriteFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The shipped labelled set, through the command: ≥ 95% of labels match,
// output is in input order with 0-based indexes.
func TestTrackingClassifyLabelled(t *testing.T) {
	path := filepath.Join("..", "..", "tracking", "testdata", "classify", "labelled.jsonl")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := trackingRunClassify(t, "classify", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(out) != len(lines) {
		t.Fatalf("%d results for %d lines", len(out), len(lines))
	}
	right := 0
	for i, l := range lines {
		var in struct{ Key, Expected string }
		json.Unmarshal([]byte(l), &in)
		if out[i].Index != i || out[i].Key != in.Key {
			t.Fatalf("result %d is %+v, input key %s", i, out[i], in.Key)
		}
		if (out[i].Verdict == "human") != (out[i].Reason == "human") {
			t.Errorf("result %d: verdict %s with reason %s", i, out[i].Verdict, out[i].Reason)
		}
		if out[i].Verdict == in.Expected {
			right++
		}
	}
	acc := float64(right) / float64(len(lines))
	t.Logf("command accuracy on the labelled set: %.4f (%d/%d)", acc, right, len(lines))
	if acc < 0.95 {
		t.Errorf("accuracy %.4f < 0.95", acc)
	}
}

// Unsorted input: the burst and "first Google fetch" rules see each key's
// requests in time order whatever the line order.
func TestTrackingClassifyUnsortedSequence(t *testing.T) {
	in := `{"key":"m1/a","time":"2026-12-04T10:00:42.6Z","delivered_at":"2026-12-04T10:00:00Z","method":"GET","target":"click:3","ua":"Mozilla/5.0 (Windows NT 10.0) Chrome/131","ip":"35.190.1.1"}
{"key":"m1/a","time":"2026-12-04T10:00:42.0Z","delivered_at":"2026-12-04T10:00:00Z","method":"GET","target":"click:1","ua":"Mozilla/5.0 (Windows NT 10.0) Chrome/131","ip":"35.190.1.1"}
{"key":"m1/a","time":"2026-12-04T10:00:42.3Z","delivered_at":"2026-12-04T10:00:00Z","method":"GET","target":"click:2","ua":"Mozilla/5.0 (Windows NT 10.0) Chrome/131","ip":"35.190.1.1"}
{"key":"m2/b","time":"2026-12-04T12:00:00Z","delivered_at":"2026-12-04T10:00:00Z","target":"pixel","ua":"Mozilla/5.0 (via ggpht.com GoogleImageProxy)","ip":"66.249.84.1"}

{"key":"m2/b","time":"2026-12-04T10:00:03Z","delivered_at":"2026-12-04T10:00:00Z","target":"pixel","ua":"Mozilla/5.0 (via ggpht.com GoogleImageProxy)","ip":"66.102.8.1","headers":{"Via":["1.1 ggpht"]}}
`
	code, out, stderr := trackingRunClassify(t, "classify", trackingWriteFile(t, "in.jsonl", in))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := []string{"burst_all_links", "human", "human", "human", "google_image_proxy"}
	if len(out) != len(want) {
		t.Fatalf("%d results", len(out))
	}
	for i, w := range want {
		if out[i].Reason != w || out[i].Index != i {
			t.Errorf("result %d: %+v, want reason %s", i, out[i], w)
		}
	}
}

func TestTrackingClassifyBadLines(t *testing.T) {
	in := `{"key":"k","time":"2026-12-04T10:00:00Z","target":"pixel","ua":"x"}
{"key":"k","time":"yesterday","target":"pixel"}
not json at all 078-05-1120
{"key":"k","time":"2026-12-04T10:00:00Z","target":"click:0"}
{"key":"k","time":"2026-12-04T10:00:00Z","target":"pixel","method":"POST"}
{"key":"k","time":"2026-12-04T10:00:00Z","target":"pixel","ip":"999.1.1.1"}
{"time":"2026-12-04T10:00:00Z","target":"pixel"}
`
	p := trackingWriteFile(t, "bad.jsonl", in)
	code, out, stderr := trackingRunClassify(t, "classify", p)
	if code != 1 || len(out) != 0 {
		t.Fatalf("exit %d, %d results", code, len(out))
	}
	for _, l := range []string{":2: \"time\"", ":3: invalid JSON", ":4: \"target\"", ":5: \"method\"", ":6: \"ip\"", ":7: \"key\""} {
		if !strings.Contains(stderr, p+l) {
			t.Errorf("stderr lacks %q:\n%s", p+l, stderr)
		}
	}
	if strings.Contains(stderr, p+":1:") {
		t.Errorf("good line reported: %s", stderr)
	}
	if strings.Contains(stderr, "078-05-1120") {
		t.Error("error messages echo input content")
	}
}

func TestTrackingClassifyFlagsAndUsage(t *testing.T) {
	in := `{"key":"k","time":"2026-12-04T10:00:30Z","delivered_at":"2026-12-04T10:00:00Z","target":"pixel","ua":"Mozilla/5.0 (iPhone)","ip":"203.0.113.5"}
{"key":"k2","time":"2026-12-04T10:05:00Z","delivered_at":"2026-12-04T10:00:00Z","target":"click:1","ua":"AcmeScan/1.0","ip":"198.51.100.1"}
{"key":"k3","time":"2026-12-04T10:00:30Z","delivered_at":"2026-12-04T10:00:00Z","target":"click:1","ua":"Mozilla/5.0 (iPhone)","ip":"198.51.100.2"}
`
	data := trackingWriteFile(t, "in.jsonl", in)
	apple := trackingWriteFile(t, "apple.txt", "203.0.113.0/24\n")
	scan := trackingWriteFile(t, "scan.json", `{"scanners":[{"reason":"acme","user_agents":["AcmeScan"]}]}`)
	code, out, stderr := trackingRunClassify(t, "classify", data)
	if code != 0 || out[0].Reason != "human" || out[1].Reason != "human" || out[2].Reason != "human" {
		t.Fatalf("defaults: %d %+v %s", code, out, stderr)
	}
	// Flags before and after the file.
	code, out, stderr = trackingRunClassify(t, "classify", "--apple-ranges", apple, data, "--scanner-data", scan, "--click-too-soon", "1m")
	if code != 0 || out[0].Reason != "apple_mpp" || out[1].Reason != "acme" || out[2].Reason != "click_too_soon" {
		t.Fatalf("overrides: %d %+v %s", code, out, stderr)
	}
	for _, args := range [][]string{{}, {"classify"}, {"frobnicate"}, {"classify", "a", "b"}, {"classify", "--nope", data}} {
		if code, _, _ := trackingRunClassify(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code, _, _ := trackingRunClassify(t, "classify", filepath.Join(t.TempDir(), "missing.jsonl")); code != 1 {
		t.Errorf("missing file: exit %d", code)
	}
	if code, _, stderr := trackingRunClassify(t, "classify", "--scanner-data", trackingWriteFile(t, "b.json", "{"), data); code != 1 || !strings.Contains(stderr, "scanner data") {
		t.Errorf("bad scanner data: exit %d %s", code, stderr)
	}
	if code, _, _ := trackingRunClassify(t, "classify", "-h"); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}
