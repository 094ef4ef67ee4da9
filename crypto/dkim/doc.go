// Package dkim signs outgoing mail with DKIM (RFC 6376) using
// emersion/go-msgauth, and makes and publishes signing keys.
//
// Signing, per message:
//
//  1. Read the header section only and find the From domain (RFC 6376 §6.1.1
//     ties d= to it for DMARC alignment). A key applies when its domain is the
//     From domain or a parent of it.
//  2. With no applicable key, return no header: the message goes unsigned.
//  3. Otherwise stream the whole message once through one go-msgauth signer
//     per key (an RSA-2048 and an Ed25519 key for one domain give the dual
//     signatures of RFC 8463 §4), with relaxed/relaxed canonicalisation
//     (RFC 6376 §3.4.2, §3.4.4) and the RFC 6376 §5.4.1 recommended header
//     set. From is listed once more than it occurs ("oversigned", §8.15),
//     so a second From added in transit breaks the signature.
//  4. Return the DKIM-Signature header fields to prepend. The caller sends
//     exactly the bytes it passed in, after them: DKIM signs what is sent.
//
// Memory stays bounded: only the header section is buffered; the body is
// hashed as it streams.
package dkim
