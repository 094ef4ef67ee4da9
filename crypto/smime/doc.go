// Package smime is the first end-to-end encryption fallback of mandatory
// encryption: when a recipient's MX cannot give the required TLS, delivery
// encrypts the message to the recipient's X.509 certificate instead.
//
// Encrypt turns a complete RFC 5322 message into a complete RFC 5322
// message whose body is an application/pkcs7-mime; smime-type=enveloped-data
// entity (RFC 8551 §3.3), base64 in 76-column lines (RFC 2045 §6.8).
//
// What is encrypted: the original MIME entity, that is the original
// Content-* header fields and the body, with line endings canonicalised to
// CRLF (RFC 8551 §3.1.1). With Options.HideSubject the real header fields
// (Subject, and everything but transport, reply and threading fields) are
// also copied into that entity's header and its Content-Type gets
// protected-headers="v1" (draft-autocrypt-lamps-protected-headers, the
// scheme Thunderbird and other clients display); the outer Subject becomes
// Options.GenericSubject. We chose it over a message/rfc822 wrapper
// (RFC 8551 §3.1) because `openssl cms -decrypt` then prints the real
// Subject and the original part directly, and clients without support still
// show the original body. See crypto/smime/mimewrap for the exact field lists.
//
// Cryptography: CMS EnvelopedData (RFC 5652 §6) with one
// KeyTransRecipientInfo per certificate (issuerAndSerialNumber, RSAES-PKCS1-v1_5,
// RFC 8551 §2.3), content encrypted with AES-256-CBC (RFC 3565). AES-GCM is
// not used: RFC 5084 allows it only in AuthEnvelopedData, which
// go.mozilla.org/pkcs7 does not produce and older clients do not read.
// The EnvelopedData is written by this package as streamed BER
// (indefinite lengths around the encrypted content, like
// `openssl cms -stream`) rather than with go.mozilla.org/pkcs7's Encrypt,
// because that one takes the whole message as []byte and selects its cipher
// through a package-level variable that would have to be changed at run
// time (DES-CBC by default). Memory is therefore constant in the message
// size; Options.MaxSize (default 64 MiB) bounds the work and fails with
// ErrTooLarge instead of truncating. go.mozilla.org/pkcs7 and openssl
// decrypt the output in the tests.
//
// Invariants:
//   - Every certificate is checked (CheckCertificate) before a byte is
//     written: validity period, RSA ≥ 2048 bits, keyEncipherment if key
//     usage is present, emailProtection if extended key usage is present.
//     Certificates are trusted because an administrator imported them into
//     crypto/keystore; no chain is built here.
//   - Errors name certificates by SHA-256 fingerprint and never contain
//     message content. On error the caller discards dst.
//   - No package-level mutable state; time comes from Options.Now.
package smime
