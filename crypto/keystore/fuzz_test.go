package keystore

import (
	"testing"
)

// FuzzParseKeys feeds arbitrary file content to the key-file parser: it
// must never panic, and whatever it accepts must be public material with
// an ID. The seed corpus is in testdata/fuzz/FuzzParseKeys.
func FuzzParseKeys(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), false)
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxjMEAAAAABYJKwYBBAHaRw8BAQdA\n-----END PGP PUBLIC KEY BLOCK-----\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, asc bool) {
		fm := formatX509
		if asc {
			fm = formatPGP
		}
		items, err := parseKeys(data, fm)
		if err != nil {
			if len(items) != 0 {
				t.Fatal("items returned with an error")
			}
			return
		}
		if len(items) == 0 {
			t.Fatal("no items and no error")
		}
		for _, it := range items {
			if it.id == "" {
				t.Fatal("item without ID")
			}
			if it.entity != nil && it.entity.PrivateKey != nil {
				t.Fatal("private key accepted")
			}
			for _, a := range it.addrs {
				if _, err := normalizeAddr(a); err != nil {
					t.Fatalf("indexed a malformed address %q", a)
				}
			}
		}
	})
}
