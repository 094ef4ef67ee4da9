package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"time"

	"github.com/sealgate/sealgate/delivery"
)

// TLSA certificate usages, selectors and matching types (RFC 6698 §2.1,
// RFC 7218 acronyms).
const (
	UsagePKIXTA = 0
	UsagePKIXEE = 1
	UsageDANETA = 2
	UsageDANEEE = 3

	SelectorCert = 0
	SelectorSPKI = 1

	MatchFull   = 0
	MatchSHA256 = 1
	MatchSHA512 = 2
)

// Usable reports whether r can authenticate an SMTP server under
// RFC 7672 §3.1: DANE-TA(2) or DANE-EE(3), selector Cert(0) or SPKI(1),
// matching type Full(0), SHA2-256(1) or SHA2-512(2) with data of the right
// length. PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (§3.1.3).
func Usable(r delivery.TLSA) bool {
	if r.Usage != UsageDANETA && r.Usage != UsageDANEEE {
		return false
	}
	if r.Selector != SelectorCert && r.Selector != SelectorSPKI {
		return false
	}
	switch r.MatchingType {
	case MatchFull:
		return len(r.Data) > 0
	case MatchSHA256:
		return len(r.Data) == sha256.Size
	case MatchSHA512:
		return len(r.Data) == sha512.Size
	}
	return false
}

// Matches reports whether r's association data matches cert under r's
// selector and matching type (RFC 6698 §2.1.2, §2.1.3). Usage is ignored.
func Matches(r delivery.TLSA, cert *x509.Certificate) bool {
	var data []byte
	switch r.Selector {
	case SelectorCert:
		data = cert.Raw
	case SelectorSPKI:
		data = cert.RawSubjectPublicKeyInfo
	default:
		return false
	}
	switch r.MatchingType {
	case MatchFull:
	case MatchSHA256:
		h := sha256.Sum256(data)
		data = h[:]
	case MatchSHA512:
		h := sha512.Sum512(data)
		data = h[:]
	default:
		return false
	}
	return len(data) > 0 && bytes.Equal(data, r.Data)
}

var errNoMatch = errors.New("no TLSA record matches the certificate chain")

// Verify authenticates a peer chain (leaf first, as sent) with usable TLSA
// records for host (the TLSA base domain):
//
//   - DANE-EE(3): the leaf matches; its names and validity period are not
//     checked (RFC 7672 §3.1.1).
//   - DANE-TA(2): a certificate the peer sent after the leaf matches, and
//     the chain from the leaf to it validates at now with that certificate
//     as the only trust anchor, and the leaf is valid for host
//     (RFC 7672 §3.1.2, §3.2.2; RFC 7671 §5.2.2: the server includes the
//     trust anchor in its chain).
//
// Unusable records are skipped.
func Verify(chain []*x509.Certificate, records []delivery.TLSA, host string, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("no certificate")
	}
	for _, r := range records {
		if r.Usage == UsageDANEEE && Usable(r) && Matches(r, chain[0]) {
			return nil
		}
	}
	var chainErr error
	for _, r := range records {
		if r.Usage != UsageDANETA || !Usable(r) {
			continue
		}
		for i := 1; i < len(chain); i++ {
			if !Matches(r, chain[i]) {
				continue
			}
			if err := verifyToAnchor(chain, i, host, now); err != nil {
				chainErr = err
				continue
			}
			return nil
		}
	}
	if chainErr != nil {
		return errors.New("certificate chain does not validate to the TLSA trust anchor for the MX host name")
	}
	return errNoMatch
}

func verifyToAnchor(chain []*x509.Certificate, anchor int, host string, now time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(chain[anchor])
	inter := x509.NewCertPool()
	for _, c := range chain[1:anchor] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		DNSName:       host,
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
	})
	return err
}
