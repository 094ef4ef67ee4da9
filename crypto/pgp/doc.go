// Package pgp is the second end-to-end encryption fallback of mandatory
// encryption: when a recipient's MX cannot give the required TLS and no
// usable S/MIME certificate is known, delivery encrypts the message to the
// recipient's OpenPGP key.
//
// Encrypt turns a complete RFC 5322 message into a complete RFC 5322
// PGP/MIME message (RFC 3156 §4): a multipart/encrypted;
// protocol="application/pgp-encrypted" body whose first part is the
// application/pgp-encrypted "Version: 1" part and whose second part is the
// application/octet-stream ASCII-armored OpenPGP message (RFC 4880 §6.2).
//
// What is encrypted is the same MIME entity crypto/smime encrypts: the
// original Content-* fields and body in canonical CRLF form (RFC 3156 §3),
// and with Options.HideSubject the real header fields as protected headers
// (draft-autocrypt-lamps-protected-headers, Content-Type parameter
// protected-headers="v1", the "Memory Hole" successor) while the outer
// Subject becomes Options.GenericSubject. See crypto/smime/mimewrap.
//
// Cryptography: github.com/ProtonMail/go-crypto/openpgp, streaming. One
// session key is encrypted to every recipient's current encryption subkey
// (RFC 4880 §5.1); the data is a Symmetrically Encrypted Integrity
// Protected packet (SEIPD v1 with MDC, RFC 4880 §5.13), AES-256 when the
// recipients' preferences allow it, no compression. AEAD (SEIPD v2) is not
// enabled so that GnuPG 2.2 can read the result.
//
// Invariants:
//   - Every key is checked (CheckEntity) before a byte is written: refused
//     when revoked, expired, its self-signature expired, or without a
//     valid encryption-capable key. Keys are trusted because an
//     administrator imported them or WKD served them (crypto/keystore); no
//     web of trust is evaluated.
//   - Memory is constant in the message size; Options.MaxSize (default
//     64 MiB) bounds the work and fails with ErrTooLarge, never truncates.
//   - Errors name keys by fingerprint and never contain message content.
//     On error the caller discards dst.
//   - No package-level mutable state; time comes from Options.Now.
package pgp
