// Package keystore owns the recipient keys of the encryption fallbacks:
// X.509 certificates for crypto/smime and OpenPGP public keys for
// crypto/pgp, kept in a directory and, optionally, discovered through the
// OpenPGP Web Key Directory.
//
// Layout of the directory (Options.Dir, config keys.dir):
//
//	DIR/<id>.pem | <id>.crt          certificates (PEM, or one DER certificate)
//	DIR/<id>.asc                     one ASCII-armored public key block
//	DIR/domains/<domain>/<id>.{pem,crt,asc}  domain-wide keys for <domain>
//
// Files directly in DIR are indexed by the addresses they carry: a
// certificate's subjectAltName rfc822Name entries and PKCS #9 emailAddress
// subject attributes (RFC 8550 §3), an OpenPGP key's user IDs
// (RFC 4880 §5.11). Files under domains/<domain>/ serve every recipient of
// that domain who has no key of their own (`sealgate keys import --domain`).
// Administrators may also drop files in by hand; names starting with "."
// and other extensions are ignored. <id> is the hex SHA-256 of a
// certificate or the OpenPGP fingerprint.
//
// Lookup rules (Store.Lookup, Resolver.Lookup):
//  1. Normalise the address: the local part is kept exactly, the domain is
//     lower-cased (RFC 5321 §2.4).
//  2. Keys stored for the exact address win; then, with Resolver, a key
//     published by WKD; then the domain-wide keys.
//  3. Only usable keys are returned: certificates that crypto/smime accepts
//     (validity period, key usage) and OpenPGP keys that crypto/pgp accepts
//     (not expired, not revoked, an encryption subkey), whose user ID for
//     the address is not revoked. No key is (Keys{}, nil).
//
// WKD (draft-koch-openpgp-webkey-service §3.1): the advanced URL
// https://openpgpkey.<domain>/.well-known/openpgpkey/<domain>/hu/<h>?l=<local>
// first and, when that host cannot be reached, the direct URL
// https://<domain>/.well-known/openpgpkey/hu/<h>?l=<local>, where <h> is the
// z-base-32 SHA-1 of the lower-cased local part. HTTPS only, a timeout per
// lookup, a bounded response, a bounded cache of answers (404 included).
// Served keys are kept only if a user ID carries the address.
//
// Invariants:
//   - Only public material is stored, listed or printed: input holding a
//     private key is refused whole.
//   - Writes are atomic: temp file in the same directory, fsync, rename,
//     fsync of the directory. Nothing is written unless the whole input parses.
//   - A malformed file never stops the others from loading; it is reported
//     by Problems.
//   - The directory is rescanned on Reload and, when files changed, at most
//     every ReloadInterval from Lookup, so `sealgate keys import` reaches a
//     running server without a restart.
//   - No package-level mutable state; time comes from a Clock.
//
// Trust: a key is trusted because an administrator imported it or because
// the recipient's domain published it over HTTPS; no certificate chain or
// web of trust is evaluated.
package keystore
