// Package dane implements SMTP security via opportunistic DANE TLS
// (RFC 7672) as a delivery.Policy: when DNSSEC proves that an MX host
// publishes usable TLSA records, mail to it goes only over TLS
// authenticated by those records, and an attacker on the path can neither
// strip TLS nor substitute a certificate.
//
// It owns the DNSSEC/TLSA view of a destination and the matching of TLSA
// records against certificate chains. It does not connect: package
// delivery does and asks this package through the delivery.Policy
// methods.
//
// # Invariants
//
//   - DANE applies only on answers the Resolver marks Authentic (the AD
//     bit of a trusted validating resolver): the MX RRset, the host's
//     address records and its TLSA RRset. Forged, unsigned answers can
//     never make a certificate "verified".
//   - Where usable TLSA records exist, a connection is accepted only if the
//     peer chain matches them; a PKIX-valid certificate does not replace a
//     failed match and there is no fallback to plaintext (Floor forces
//     TLS).
//   - A failed lookup on a signed domain is a temporary failure for that
//     host, never a reason to skip DANE (RFC 7672 §2.1.1).
//   - Logs and metrics carry domains, host names and reasons only.
//   - No package-level mutable state; the per-domain cache is guarded by a
//     mutex and bounded (Options.CacheSize, Options.CacheTTL).
//
// # Algorithm
//
// Floor, AllowMX and CheckTLS share one state per domain, computed by steps
// 1-4 and reused for Options.CacheTTL so that all three see the same
// records during one delivery.
//
//  1. Look up MX for the domain. NXDOMAIN: no opinion (delivery bounces).
//     Another failure: Floor returns an error (the delivery is deferred).
//     An answer without the Authentic bit: DANE does not apply (§2.2.1).
//     A null MX: no opinion. No MX records: the domain is its own MX host.
//  2. For each MX host (by preference, at most Options.MaxHosts), look up
//     its addresses. NXDOMAIN: the host is not DANE. A failure: the host is
//     marked failed. Not Authentic: DANE does not apply to it (§2.2.2).
//  3. Look up TLSA at "_<port>._tcp.<host>" (§2.2.3; the MX host name is
//     the TLSA base domain: CNAME expansion of MX hosts is not seen through
//     delivery.Resolver). NXDOMAIN, NODATA or not Authentic: the host is
//     not DANE. A failure such as SERVFAIL: the host is marked failed
//     (§2.1.1). Otherwise keep the usable records: DANE-TA(2) and
//     DANE-EE(3) with selector 0/1 and matching type 0/1/2; PKIX-TA(0),
//     PKIX-EE(1) and unknown parameters are unusable (§3.1.3).
//  4. Floor: PolicyVerified if some host has usable records or is marked
//     failed (TLS is mandatory and authenticated for DANE hosts, §2.2; a
//     failed lookup is assumed to hide records, so no host of the domain
//     is used below what DANE could demand); PolicyRequired if the best is
//     a secure TLSA RRset with no usable record (mandatory unauthenticated
//     TLS, §2.2); else 0. delivery.Policy has no per-host floor, so on a
//     domain mixing DANE and non-DANE MX hosts the non-DANE hosts must
//     then pass PKIX verification: stricter than RFC 7672, never weaker.
//  5. AllowMX refuses a host marked failed and, on a signed domain that
//     uses DANE, a host that was not among the validated MX hosts examined.
//  6. CheckTLS, for a host with usable records, calls Verify: DANE-EE(3)
//     matches the leaf, ignoring its names and validity (§3.1.1); DANE-TA(2)
//     matches a certificate of the peer's chain after the leaf, and the
//     chain from the leaf to it validates with it as the only trust anchor,
//     the leaf being valid for the MX host name (§3.1.2, §3.2.2). A match
//     returns LevelVerified; no match is an error that refuses the
//     connection. A host marked failed is refused; other hosts get their
//     level unchanged.
//
// Put this policy before MTA-STS in delivery.Options.Policies: RFC 8461 §2
// gives DANE precedence, and MTA-STS accepts the level DANE vouches for.
//
// # Metrics
//
//	sealgate_dane_checks_total{result="verified|mismatch|unusable|dns_error|not_applicable"}
package dane
