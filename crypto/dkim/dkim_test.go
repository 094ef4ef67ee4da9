package dkim

import (
	"bytes"
	"crypto"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"
	"github.com/sealgate/sealgate/internal/testtool"
)

const testMsg = "From: Clinic <appointments@mail.clinic.example>\r\n" +
	"To: patient@example.org\r\n" +
	"Subject: Your appointment\r\n" +
	"Date: Fri, 04 Dec 2026 10:00:00 +0000\r\n" +
	"Message-ID: <abc@clinic.example>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"See you   on Monday.  \r\n" +
	"\r\n\r\n"

func testKeys(t *testing.T) ([]Key, map[string]string) {
	t.Helper()
	records := map[string]string{}
	var keys []Key
	for _, a := range []struct {
		alg Algorithm
		sel string
	}{{RSA, "s-rsa"}, {Ed25519, "s-ed"}} {
		k, err := GenerateKey(a.alg)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, Key{Domain: "clinic.example", Selector: a.sel, Signer: k})
		v, err := TXTValue(k)
		if err != nil {
			t.Fatal(err)
		}
		records[RecordName("clinic.example", a.sel)] = v
	}
	return keys, records
}

func TestDualSignatureVerifiesWithPythonDKIM(t *testing.T) {
	keys, records := testKeys(t)
	s, err := NewSigner(keys)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := s.Sign(strings.NewReader(testMsg))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(hdr, []byte("DKIM-Signature:")); n != 2 {
		t.Fatalf("%d signatures, want RSA + Ed25519", n)
	}
	for _, want := range []string{"a=rsa-sha256", "a=ed25519-sha256", "c=relaxed/relaxed", "d=clinic.example"} {
		if !bytes.Contains(hdr, []byte(want)) {
			t.Errorf("signature lacks %s", want)
		}
	}
	signed := append(hdr, testMsg...)
	if got := testtool.DKIMVerify(t, signed, records); strings.Join(got, " ") != "ok ok" {
		t.Fatalf("python3-dkim: %v", got)
	}
	// A second From added in transit breaks the oversigned signatures.
	forged := append(append([]byte(nil), hdr...), "From: attacker@evil.example\r\n"+testMsg...)
	if got := testtool.DKIMVerify(t, forged, records); strings.Join(got, " ") != "fail fail" {
		t.Fatalf("added From still verifies: %v", got)
	}
	// A changed body fails too.
	tampered := bytes.Replace(signed, []byte("Monday"), []byte("Friday"), 1)
	if got := testtool.DKIMVerify(t, tampered, records); strings.Join(got, " ") != "fail fail" {
		t.Fatalf("tampered body verifies: %v", got)
	}
}

func TestGoMsgauthVerifiesToo(t *testing.T) {
	keys, records := testKeys(t)
	s, _ := NewSigner(keys)
	hdr, err := s.Sign(strings.NewReader(testMsg))
	if err != nil {
		t.Fatal(err)
	}
	verifs, err := msgauth.VerifyWithOptions(bytes.NewReader(append(hdr, testMsg...)), &msgauth.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) { return []string{records[domain+"."]}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(verifs) != 2 || verifs[0].Err != nil || verifs[1].Err != nil {
		t.Fatalf("verifications: %+v", verifs)
	}
}

func TestOnlyMatchingDomainIsSigned(t *testing.T) {
	keys, _ := testKeys(t)
	s, _ := NewSigner(keys)
	for _, from := range []string{"someone@other.example", "x@notclinic.example", ""} {
		msg := strings.Replace(testMsg, "Clinic <appointments@mail.clinic.example>", from, 1)
		hdr, err := s.Sign(strings.NewReader(msg))
		if err != nil || hdr != nil {
			t.Errorf("From %q: got signature %q, err %v", from, hdr, err)
		}
	}
}

func TestKeyRoundTripAndRecord(t *testing.T) {
	for _, alg := range []Algorithm{RSA, Ed25519} {
		k, _ := GenerateKey(alg)
		pemBytes, err := MarshalKey(k)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseKey(pemBytes)
		if err != nil {
			t.Fatal(err)
		}
		if !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
			t.Errorf("%s key changed in round trip", alg)
		}
		line, err := ZoneLine("clinic.example", "sel", k)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(line, "sel._domainkey.clinic.example. IN TXT (") {
			t.Errorf("zone line %q", line)
		}
		for _, part := range strings.Split(line, `"`) {
			if len(part) > 255 {
				t.Errorf("character-string over 255 bytes")
			}
		}
	}
	if _, err := ParseKey([]byte("not pem")); err == nil {
		t.Error("garbage key accepted")
	}
}

func TestWriteKeyFileRefusesOverwrite(t *testing.T) {
	path := t.TempDir() + "/k.key"
	k, _ := GenerateKey(Ed25519)
	if err := WriteKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(path, k); err == nil {
		t.Fatal("overwrote an existing key")
	}
	if _, err := LoadKey(path); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkSign5KiB(b *testing.B) {
	keys, _ := testKeys(&testing.T{})
	s, _ := NewSigner(keys)
	msg := testMsg + strings.Repeat("lorem ipsum dolor sit amet\r\n", 180)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := s.Sign(strings.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
	}
}
