// Package tlsmemory remembers, per recipient domain, the best TLS level
// that delivery reached recently, and notices when a domain that had TLS
// (or verified TLS) suddenly does not: the signature of an attacker
// stripping STARTTLS or substituting a certificate on a destination that
// publishes neither MTA-STS nor DANE (trust on first use, as Postfix's
// "tls policy cache" and the SMTP-STS drafts' pinning idea).
//
// It is a delivery.Policy that reports by default and enforces only when
// Options.Enforce is set.
//
// # Invariants
//
//   - A level is only ever raised by what a real connection reached; it is
//     forgotten Options.Window after it was last reached, so a domain that
//     really dropped TLS is delivered again (under Enforce) after Window.
//   - Reports carry domain, MX host and levels only (no addresses, no
//     content). No package-level mutable state; the default store is
//     bounded (Options.Size) and guarded.
//
// # Algorithm
//
//  1. CheckTLS(domain, host, level): read the entry of domain; if it was
//     reached within Window and level is lower, log WARN "tls downgrade
//     attempt" (domain, mx, previous, now), count it, and under Enforce
//     refuse the connection. Otherwise store max(entry, level) with the
//     current time.
//  2. Floor(domain): under Enforce, PolicyVerified if the entry is
//     tls-verified within Window, PolicyRequired if it is tls; else 0. The
//     floor is what prevents a plaintext downgrade, which never reaches
//     CheckTLS (delivery calls CheckTLS only after a handshake).
//  3. Observe(domain, host, level), called by the caller with each
//     delivered Result: a plaintext delivery to a domain that reached TLS
//     within Window is reported as in step 1 (it cannot be undone); other
//     levels refresh the entry.
//  4. AllowMX has no opinion.
//
// The memory is per domain, not per MX host: a domain whose backup MX has
// weaker TLS than its primary is reported when mail goes to the backup.
// Place this policy after DANE and MTA-STS in delivery.Options.Policies so
// it sees the level they vouched for.
//
// # Metrics
//
//	sealgate_tls_downgrades_total{enforced="true|false"}
package tlsmemory
