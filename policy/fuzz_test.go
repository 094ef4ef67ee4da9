package policy_test

import (
	"reflect"
	"sync"
	"testing"

	"github.com/sealgate/sealgate/delivery"
	"github.com/sealgate/sealgate/policy"
)

// FuzzDecodeDecisions: stored decisions come back from disk; whatever the
// bytes, decoding never panics, and what it accepts is consistent (a
// known requirement with a TLS floor that serves it) and round-trips.
// Seeds: testdata/fuzz/FuzzDecodeDecisions.
func FuzzDecodeDecisions(f *testing.F) {
	f.Add(`{"v":1,"decisions":{"a@x":{"rule":"default","require":"tls-verified","fallback":["smime","pgp","portal"],"reasons":["verdict: phi (score 1.00)"],"min_tls":"verified"}}}`)
	f.Add(`{"v":1,"decisions":{}}`)
	f.Fuzz(func(t *testing.T, s string) {
		ds, err := policy.DecodeDecisions(s)
		if err != nil {
			return
		}
		for rcpt, d := range ds {
			if d.Rule == "" || !d.Require.Valid() || d.MinTLS < d.Require.MinTLS() || (d.RequireTLSFlag && d.MinTLS < delivery.PolicyVerified) {
				t.Fatalf("%q: inconsistent decision accepted: %+v", rcpt, d)
			}
		}
		enc, err := policy.EncodeDecisions(ds)
		if err != nil {
			t.Fatal(err)
		}
		again, err := policy.DecodeDecisions(enc)
		if err != nil || !reflect.DeepEqual(again, ds) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, ds, again)
		}
	})
}

// An Engine is shared by every SMTP session: Decide must be safe for
// concurrent use (run with -race) and give the same answer each time.
func TestDecideConcurrent(t *testing.T) {
	e := mustNew(t, policy.Options{
		SubjectTags:    []string{"[secure]"},
		EncryptHeaders: []string{"X-Sealgate-Encrypt"},
		Domains:        map[string]policy.Action{"*.va.gov": {Require: policy.RequireTLS}},
		Rules:          []policy.Rule{{Name: "p", Match: policy.Match{Kinds: []string{"ssn"}}, Action: policy.Action{Fallback: []policy.Method{"portal"}}}},
	})
	m := policy.Message{Subject: "[secure] x", Headers: map[string][]string{"X-Sealgate-Encrypt": {"yes"}}, Scan: phiScan}
	want := e.Decide(m, "a@b.va.gov")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				d := e.Decide(m, "a@b.va.gov")
				d.Fallback = append(d.Fallback, "pgp") // callers may modify their copy
				d.StripHeaders[0] = "changed"
				if got := e.Decide(m, "a@b.va.gov"); !reflect.DeepEqual(got, want) {
					t.Errorf("decision changed: %+v", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}
