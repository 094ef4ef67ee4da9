package phi

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type labelled struct {
	path     string
	phi      bool
	category string
}

func readManifest(t *testing.T, dir string) []labelled {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "manifest.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []labelled
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) < 3 || (cols[1] != "phi" && cols[1] != "clean") {
			t.Fatalf("%s: bad manifest line %q", dir, line)
		}
		out = append(out, labelled{path: filepath.Join(dir, cols[0]), phi: cols[1] == "phi", category: cols[2]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// corpusOptions is the configuration the corpus is judged with: the
// defaults, plus the allow-list an organisation would configure.
func corpusOptions() Options {
	return Options{}
}

// TestCorpusRecallAndFPR scans the labelled corpus (generated and
// hand-written) and fails below recall 0.99 or above a false-positive rate
// of 0.05 at message level.
func TestCorpusRecallAndFPR(t *testing.T) {
	s, err := New(corpusOptions())
	if err != nil {
		t.Fatal(err)
	}
	var msgs []labelled
	msgs = append(msgs, readManifest(t, "../../testdata/phi/generated")...)
	msgs = append(msgs, readManifest(t, "../../testdata/phi/hand")...)
	var tp, fn, fp, tn int
	for _, m := range msgs {
		f, err := os.Open(m.path)
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Scan(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", m.path, err)
		}
		switch {
		case m.phi && res.PHI:
			tp++
		case m.phi && !res.PHI:
			fn++
			t.Logf("MISS %s (%s): score %.2f kinds %v", filepath.Base(m.path), m.category, res.Score, res.Kinds)
		case !m.phi && res.PHI:
			fp++
			t.Logf("FALSE ALARM %s (%s): score %.2f kinds %v findings %v", filepath.Base(m.path), m.category, res.Score, res.Kinds, res.Findings)
		default:
			tn++
		}
	}
	recall := float64(tp) / float64(tp+fn)
	fpr := float64(fp) / float64(fp+tn)
	t.Logf("corpus: %d messages (%d PHI, %d clean); recall %.4f (%d/%d), false-positive rate %.4f (%d/%d)",
		len(msgs), tp+fn, fp+tn, recall, tp, tp+fn, fpr, fp, fp+tn)
	if len(msgs) < 150 {
		t.Errorf("corpus too small: %d messages", len(msgs))
	}
	if recall < 0.99 {
		t.Errorf("recall %.4f below 0.99", recall)
	}
	if fpr > 0.05 {
		t.Errorf("false-positive rate %.4f above 0.05", fpr)
	}
}
