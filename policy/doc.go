// Package policy turns a PHI verdict (policy/phi) into a per-recipient
// protection decision: which rule fired, what protection is required, which
// fallback methods are allowed, whether to hold or reject, what to strip
// before sending and the TLS floor delivery must enforce. It is a pure
// library: no network, no files, no package-level mutable state; an Engine
// is built once with New and is safe for concurrent use.
//
// # What it owns
//
// The rules of the `policy:` configuration section (config.PolicyConfig
// translates YAML into Options) and the Decision that smtpd stores in the
// queue (EncodeDecisions under MetaKey) and delivery reads back
// (DecodeDecisions).
//
// # Invariants
//
//   - A protected message is never allowed in plaintext. "Protected" means
//     the scan says PHI, or found unscannable content, or there was no scan
//     at all (Message.Scan == nil), or the sender asked for encryption with
//     a subject tag or an encrypt header. Two locks guarantee it: New
//     refuses options in which a rule, a default or a domain override could
//     say `require: none` for such a message (Options.Problems), and Decide
//     raises any requirement below tls to tls for it regardless.
//   - "TLS-Required: No" (RFC 8689 §5) is honoured only when the deciding
//     action allows it, never for a protected message and never together
//     with REQUIRETLS. When it is not honoured for a protected message the
//     field is stripped, so no later hop relaxes its TLS either.
//   - REQUIRETLS (RFC 8689 §4) gives at least tls-verified, a verified TLS
//     floor and RequireTLSFlag, so delivery passes it on.
//   - Decisions carry kinds, counts, coarse places (body, html, subject,
//     header, attachment) and rule names; never matched values, the subject
//     or attachment names. Message.Subject is only read for tag matching.
//   - DecodeDecisions fails closed on anything it does not fully
//     understand.
//
// # Algorithm (Engine.Decide)
//
//  1. Facts, once per message: protected (PHI verdict, unscannable kind,
//     or not scanned), unscannable, score and kinds; subject tags found
//     (ASCII case-insensitive substring); encrypt headers present (stripped
//     whatever their value) and whether one asks for encryption (a value
//     other than no/false/off/0/never/none/empty). A tag or such a header
//     makes the message protected too. The recipient's address and domain
//     are lower-cased (domain after the last '@', trailing dot removed).
//  2. Rules in configuration order; the first whose every set condition
//     holds wins (from/to patterns: any of; kinds: any of; min_score: at
//     least, a message not scanned matches; phi, unscannable, subject_tag,
//     encrypt_header: equal; headers: each named field present with a value
//     matching its glob). When none matches, default_phi applies to a
//     protected message and default_other to the rest; the rule is then
//     "default".
//  3. Inheritance: an action without require takes the default's require
//     (and its fallback, when the action lists none). A fallback not given
//     is the requirement's default: [smime, pgp, portal] for tls and
//     tls-verified, [smime, pgp] for e2e, [portal] for portal, none for
//     none. An explicit empty list means no fallback: wait, then bounce.
//  4. Domain override: when the message is protected or the requirement is
//     above none, an override for the recipient domain (exact key first,
//     then the longest matching glob) replaces require (with its default
//     fallback) and/or fallback. Hold and reject from the rule stay.
//  5. TLS-Required: No (RFC 8689 §5): ignored with REQUIRETLS (it takes
//     precedence); ignored and stripped for a protected message; ignored
//     when the action does not allow_tls_required_no; otherwise honoured:
//     require none, no fallback, TLSRequiredNo set so delivery skips
//     MTA-STS and DANE.
//  6. REQUIRETLS (RFC 8689 §4.1): RequireTLSFlag is set and a requirement
//     below tls-verified is raised to it.
//  7. Floor: a protected message whose requirement is still below tls is
//     raised to tls (with tls's default fallback unless one was given).
//  8. MinTLS: none → opportunistic, tls → required (TLS 1.2+), tls-verified
//     → verified; e2e and portal send ciphertext or a notification without
//     content, so opportunistic. REQUIRETLS makes it verified whatever the
//     requirement (RFC 8689 §4.1: every hop of the message uses TLS).
//  9. Strip lists: the subject tags found and the encrypt headers present
//     (plus TLS-Required from step 5). Reasons collect the verdict, each
//     finding as "phi: kind×count in place", the rule, the override and
//     every adjustment.
//
// Delivery then works per recipient, in order: send the message itself if
// Require is none, tls or tls-verified and the connection reaches MinTLS;
// otherwise each Fallback method in turn whose key (or portal) is
// available; otherwise stay queued, then bounce. e2e and portal skip the
// first step.
package policy
