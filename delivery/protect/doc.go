// Package protect enforces the per-recipient protection decision of
// package policy at delivery time. It sits between the queue and
// delivery.Client: the queue hands it one message for one destination
// domain with the stored decisions (policy.DecodeDecisions), and it decides
// per recipient whether the message itself may go (over the TLS level the
// decision demands) or only an end-to-end encrypted copy (S/MIME, then
// OpenPGP) or a portal notification. It owns the fallback chain
//
//	TLS 1.2+ → S/MIME → OpenPGP → portal, never plaintext
//
// of DESIGN.md.
//
// # Invariants
//
//   - After a TLS shortfall the cleartext message is never sent, whatever
//     happens next: the fallback sends only ever open a staging file that
//     holds ciphertext (or the portal's notification).
//   - A recipient without a decision is protected with policy's built-in
//     PHI default (tls-verified, fallback smime, pgp, portal): fail closed.
//   - Every recipient gets exactly one Result, in request order.
//   - Encrypted copies are staged in a 0600 file under Options.TempDir
//     (ciphertext only) so that every read of the message (DKIM signing,
//     then the wire) sees the same bytes; the file is removed when the send
//     returns.
//   - Logs and metrics carry the queue ID, the recipient domain (never the
//     address), methods and fixed reasons: never content, subjects or keys.
//     Result texts are delivery's (hosts, codes) or fixed strings.
//   - No package-level mutable state; everything comes from Options.
//
// # Algorithm (Deliverer.Deliver)
//
//  1. Decisions. A recipient without a decision (or with one this version
//     does not understand) gets policy's built-in PHI default, from
//     policy.New(policy.Options{}) deciding on an unscanned message:
//     tls-verified with fallback smime, pgp, portal. A decision whose
//     MinTLS is below what its requirement needs is raised to it, and
//     RequireTLSFlag raises it to verified (RFC 8689 §4.1). Reject →
//     PermFail 550 5.7.1 with generic text. Hold → Held("policy hold").
//     Neither sends anything.
//  2. Cleartext (require none, tls, tls-verified). Recipients are grouped
//     by (Require, MinTLS, REQUIRETLS, Fallback) and each group is sent the
//     message itself in one Sender.Deliver with MinTLS = the decision's
//     MinTLS (none → opportunistic, tls → required, i.e. TLS 1.2+,
//     tls-verified → verified: PKIX, MTA-STS or DANE, RFC 7817 §3,
//     RFC 8461, RFC 7672) and RequireTLS when the decision's
//     RequireTLSFlag or the request's RequireTLS is set (RFC 8689 §4.1).
//     The group key also holds TLSRequiredNo: a group whose decisions
//     honoured "TLS-Required: No" (RFC 8689 §5) is sent with
//     IgnoreTLSPolicies, so the recipient domain's MTA-STS, DANE and the
//     downgrade memory are not enforced; never when the requirement is
//     above none or REQUIRETLS is asked for, whatever the decision says.
//     Delivered → the Method is named by the TLS level reached (plaintext,
//     tls, tls_verified). TempFail with delivery's TLSShortfall (the
//     required level was not reached on any MX and nothing else went
//     wrong) → the cleartext is refused for good
//     (sealgate_protect_downgrade_refusals_total) and the recipient goes to
//     step 4 with reason "tls_not_reached"; for require none with no
//     fallback, the shortfall can only come from the recipient domain's own
//     MTA-STS or DANE policy and the TempFail stands. Any other TempFail
//     stays TempFail (the network, not TLS, was the problem; retry later);
//     PermFail stays PermFail.
//  3. e2e goes straight to step 4 with its fallback (smime, pgp) and
//     reason "e2e_required"; portal with reason "portal_required". Neither
//     ever sends the message itself.
//  4. Fallback chain, per recipient, in the decision's order; the first
//     method that can be used decides the recipient:
//     a. smime: the key store (keystore.Lookup) has a usable certificate →
//     crypto/smime.Encrypt (RFC 8551 §3.3, enveloped-data) with
//     HideSubject and GenericSubject outside, into a staging file.
//     b. pgp: a usable OpenPGP key → crypto/pgp.Encrypt (RFC 3156 §4,
//     PGP/MIME) likewise.
//     c. portal: Portal.Notify stores the message and returns a
//     notification without PHI, staged the same way. Without a Portal the
//     method is unavailable.
//     The staged copy is sent for that one recipient with MinTLS
//     opportunistic (ciphertext may cross plaintext SMTP) but RequireTLS
//     kept when it was asked for. Its outcome (Delivered, TempFail,
//     PermFail) is the recipient's, with the Method set. A method that
//     cannot be used (no key, unusable key, too large) moves on to the
//     next one.
//     When the staged copy's send fails (for instance because the
//     domain's MTA-STS or DANE policy forbids every MX for any mail), that
//     failure is the recipient's outcome; later methods are not tried, as
//     they would cross the same hop.
//  5. Nothing usable. If a step failed transiently (key lookup error,
//     portal store error, staging I/O) → TempFail 451 4.7.5, so the queue
//     retries. Else, if the chain named portal (which then can only have
//     been unavailable: no Portal configured) → Held, HoldReason "portal
//     unavailable", Text "held: no allowed protection: <why each method
//     could not be used>". Else → TempFail 451 4.7.5 "no allowed protection
//     method available (<reasons>)": the message stays queued and bounces
//     when its lifetime ends. Never plaintext.
//
// # Metrics
//
//	sealgate_protect_deliveries_total{method="plaintext|tls|tls_verified|smime|pgp|portal"}
//	sealgate_protect_fallbacks_total{reason="tls_not_reached|e2e_required|portal_required"}
//	sealgate_protect_downgrade_refusals_total   cleartext sends refused for a TLS shortfall
//	sealgate_protect_held_total{reason="policy_hold|portal_unavailable"}
package protect
