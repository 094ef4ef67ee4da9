// Package mtasts implements SMTP MTA Strict Transport Security (MTA-STS,
// RFC 8461) as a delivery.Policy: a domain that publishes an enforce
// policy gets mail only over TLS with a PKIX-valid certificate, and only to
// the MX hosts its policy lists.
//
// It owns policy discovery (the TXT record, the HTTPS fetch, parsing), the
// policy cache and the judgement of MX hosts and TLS connections against
// the policy. It does not connect to MX hosts: package delivery does, and
// asks this package through the delivery.Policy methods.
//
// # Invariants
//
//   - A domain with an unexpired cached enforce policy stays enforced when
//     its TXT record disappears, its DNS fails or its policy host cannot be
//     reached or presents an invalid certificate (RFC 8461 §5.1, §10.2):
//     an attacker on the path cannot downgrade a known policy.
//   - The policy is fetched only over HTTPS with a certificate PKIX-valid
//     for "mta-sts.<domain>", never through a redirect, proxy or over
//     plaintext; its body is bounded (MaxPolicySize) and its fetch bounded
//     in time (Options.FetchTimeout).
//   - Logs and metrics carry domains, MX host names, modes and reasons,
//     never message content or addresses.
//   - No package-level mutable state. Per-domain state (in-flight fetches,
//     recent failures, the cache) is guarded and bounded.
//
// # Algorithm
//
// Floor(domain) runs discovery; AllowMX and CheckTLS then apply the policy
// discovery left in the cache (package delivery calls Floor first).
//
//  1. The domain must be a syntactically valid host name; otherwise it has
//     no policy. Read the cached entry of the domain, if unexpired (fetch
//     time + max_age, §5.1).
//  2. Look up TXT "_mta-sts.<domain>" (§3.1). Records that do not begin
//     with "v=STSv1" are discarded; if not exactly one remains, or it is
//     malformed (v=STSv1 first, id of 1-32 alphanumerics), or the lookup
//     failed (NXDOMAIN, SERVFAIL, timeout), use the cached policy if any,
//     else there is no policy (§3.1, §5.1).
//  3. If the cached policy was fetched under the same id, use it (§5.1).
//  4. Otherwise fetch https://mta-sts.<domain>/.well-known/mta-sts.txt
//     (§3.3): the host resolved with Options.Resolver, dialed with
//     Options.Dialer, its certificate PKIX-verified for the policy host
//     name against Options.RootCAs; no redirects (3xx is a failure), status
//     200, media type text/plain, at most MaxPolicySize bytes, within
//     FetchTimeout. Concurrent fetches for a domain are merged; after a
//     failure the same id is not fetched again for Options.RetryAfter.
//  5. Parse the policy (§3.2): version STSv1, mode enforce|testing|none,
//     max_age 0..31557600, one or more mx patterns (a leading "*." matches
//     exactly one label, §4.1) unless mode is none; unknown fields are
//     ignored, a repeated version, mode or max_age is invalid. A valid
//     policy replaces the cache entry with the new id and expiry (fetch
//     time + max_age, at least one minute so that the delivery which
//     fetched it applies it throughout); a failed fetch or an invalid
//     policy keeps the cached one, if any, else there is no policy (§5.1).
//  6. Apply the policy (§5):
//     enforce: Floor is PolicyVerified; AllowMX refuses MX hosts matching
//     no mx pattern (§4.1); CheckTLS refuses connections below
//     LevelVerified (§4.2).
//     testing: nothing is refused; each failure is logged at WARN and
//     counted with mode="testing".
//     none, or no policy: no opinion (Floor 0, every host and connection
//     allowed).
//
// CheckTLS trusts the level it receives: a DANE policy placed before this
// one in delivery.Options.Policies can vouch for a certificate (RFC 8461
// §2: DANE takes precedence); a DANE failure refuses the connection before
// MTA-STS is asked.
//
// # Metrics
//
//	sealgate_mtasts_policy_fetches_total{result="ok|error|redirect|http_status|content_type|too_large|invalid"}
//	sealgate_mtasts_failures_total{mode="enforce|testing",reason="mx_mismatch|tls_unverified"}
package mtasts
