// Package delivery is the outbound side of sealgate: it routes a message to
// its next hop, finds that hop in DNS, connects, enforces the TLS the
// destination requires, DKIM-signs exactly what it sends and reports one
// outcome per recipient. It does not queue, retry later or write bounces:
// the queue owns time; delivery owns one attempt.
//
// # Invariants
//
//   - A recipient whose required TLS level is not reached is never sent in
//     plaintext or over TLS older than 1.2: it is deferred (TempFail) with a
//     reason such as "TLS required but not reached on any MX".
//   - Every recipient gets exactly one Result, in request order.
//   - Every network step is bounded in time (connect, greeting, each
//     command, each body write, the TLS handshake, the reply after the
//     final dot) and the whole attempt stops when ctx is cancelled.
//   - Memory does not grow with message size: the body is streamed twice at
//     most (once to the Signer, once to the wire).
//   - Logs, metrics and Result texts carry hosts, codes and reasons, never
//     message content, subjects or credentials. Remote reply text is kept
//     on one line, printable ASCII, at most 256 bytes.
//   - No package-level mutable state; everything comes from Options.
//
// # Algorithm (Client.Deliver)
//
//  1. Check the request: sender and recipients must be usable on an SMTP
//     command line (no CR, LF, NUL, angle brackets or spaces); a bad
//     recipient is PermFail 5.1.3 alone, a bad sender fails all (5.1.7).
//  2. Route, first match wins: a static route for the recipient domain
//     (Options.Routes, like Postfix transport maps); else the smarthost;
//     else MX delivery.
//  3. MX delivery (RFC 5321 §5.1): look up MX for the domain.
//     NXDOMAIN is permanent (550 5.1.2). SERVFAIL, timeouts and other
//     resolver failures are temporary (451 4.4.3). A single MX "." is a
//     null MX (RFC 7505 §3) and permanent (556 5.1.10). No MX records
//     means the domain itself is the only MX (implicit MX, RFC 5321 §5.1).
//     MX hosts are sorted by preference, equal preferences shuffled. If our
//     own Hostname is one of the MXes, only strictly more preferred hosts
//     are kept (RFC 5321 §5.1, loop prevention).
//  4. Compute the TLS floor of the request as the max() of DefaultTLS,
//     DomainTLS[domain], Request.MinTLS and, for the smarthost,
//     SmarthostTLS, and for MX delivery the Floor of every Options.Policies
//     entry (MTA-STS, DANE; a policy error defers). Request.RequireTLS
//     forces PolicyVerified (RFC 8689 §4.1). Request.IgnoreTLSPolicies
//     (the sender's "TLS-Required: No", RFC 8689 §5, honoured only when
//     policy allowed it) drops every Options.Policies entry for the
//     attempt: no policy floor, no AllowMX veto, no CheckTLS; the
//     configured floors still apply.
//     The floor maps to the TLSLevel a connection must reach: none,
//     tls (TLS 1.2+, any certificate) or tls-verified (TLS 1.2+ and a
//     PKIX-valid certificate for the next-hop host name, RFC 6125 and
//     RFC 7817 §3, against Options.RootCAs).
//  5. Take a slot in the per-destination semaphore (MaxPerDestination; the
//     key is the recipient domain for MX delivery and host:port for routes
//     and the smarthost). Then, for each hop in order, skip it if a Policy
//     vetoes that MX host (AllowMX), resolve its A/AAAA
//     addresses (IPv4 first) and, for each address in order, run a session:
//     a. Connect (ConnectTimeout) and read the greeting; a 4xx/5xx greeting
//     or any network error moves on to the next address/host.
//     b. EHLO with Options.Hostname (RFC 5321 §4.1.1.1; HELO if EHLO is
//     refused).
//     c. STARTTLS (RFC 3207) unless the floor is PolicyNone. If it is not
//     offered and the floor needs TLS, the host fails with 4.7.10 and
//     nothing is sent. Data received after the 220 reply to STARTTLS is an
//     injection attempt and fails the host. The handshake requires TLS 1.2;
//     verification is done in VerifyConnection so the level reached is
//     known for every connection, then each Policy's CheckTLS may raise it
//     (a DANE match) or refuse the connection; under PolicyVerified a
//     connection that ends below tls-verified aborts the handshake. After the handshake EHLO is sent
//     again with Options.Hostname (RFC 3207 §4.2).
//     d. Handshake failure under PolicyOpportunistic only: the same address
//     is retried on a new connection without STARTTLS. This is a deliberate
//     choice (as Postfix's "may" level): an attacker able to break the
//     handshake could equally strip STARTTLS, and an opportunistic
//     destination has said plaintext is acceptable. PolicyRequired and
//     PolicyVerified never fall back: the host fails and the next is tried.
//     e. REQUIRETLS (RFC 8689 §4.1): the server must advertise it, else the
//     host fails with 4.7.30; it is then passed on MAIL FROM. SMTPUTF8
//     (RFC 6531 §3.2) is passed when the request needs it; a server without
//     it fails permanently for that host (5.6.7). A SIZE limit (RFC 1870)
//     below the message size fails permanently for that host (5.3.4).
//     f. Smarthost AUTH (RFC 4954): PLAIN, else LOGIN, only on a TLS
//     connection (New refuses credentials with a policy below required).
//     g. MAIL FROM: 5xx bounces every recipient; 4xx moves to the next host.
//     h. RCPT TO per recipient: 2xx accepted, 4xx TempFail, 5xx PermFail for
//     that recipient only. 421 or a network error abandons the session and
//     moves to the next host (nothing was delivered). If none was accepted
//     the session ends (QUIT) without DATA.
//     i. Sign once per Deliver call (Options.Signer reads one Open()), then
//     DATA: stream the signature header fields followed by a second Open()
//     with dot-stuffing (RFC 5321 §4.5.2). Each write has CommandTimeout;
//     the reply after the final dot has DataTimeout. A 5xx/4xx reply
//     applies to every accepted recipient. A read error on our side closes
//     the connection without the final dot, so nothing partial is
//     delivered. A lost connection after the dot is TempFail (at-least-once:
//     a rare duplicate beats a loss).
//     j. The first session that reaches step h or g's 5xx decides every
//     recipient; each Result records the MX host, TLS version, cipher and
//     level of that connection.
//  6. If no session reached a decision, every pending recipient gets one
//     summarised failure: temporary if any host failed temporarily; when a
//     host failed because the TLS floor was not reached, the reason says so
//     ("TLS required but not reached on any MX (...)"), and Result.TLSShortfall
//     is set when every host failed for TLS (or was vetoed by a policy): the
//     signal package protect uses to encrypt instead of waiting.
//
// # Extension points
//
// MTA-STS (RFC 8461) and DANE (RFC 7672) plug in as Policy values
// (Options.Policies), in the manner of maddy: a Policy raises the floor of
// step 4, vetoes MX hosts in step 5 and judges each handshake in step 5c
// against the TLSLevel reached. The Resolver they need reports whether
// DNSSEC authenticated an answer (AD bit) and has TXT and TLSA lookups.
// Dialer lets tests route connections to in-process fakes
// (internal/mxtest, delivery/dnstest).
//
// # Probe
//
// Client.Probe (for `sealgate explain --probe`) runs steps 2 to 5c for a
// domain without sending anything: at most 3 hosts and 2 addresses each,
// greeting, EHLO, STARTTLS with the same checks, EHLO again, QUIT — never
// MAIL FROM. JudgeProbe applies step 5's rules to what it saw.
//
// # Metrics
//
//	sealgate_delivery_attempts_total{result="delivered|deferred|bounced"}  per recipient
//	sealgate_delivery_duration_seconds                                     per Deliver call
//	sealgate_delivery_tls_total{version="none|TLS1.2|TLS1.3"}              per session reaching MAIL
//	sealgate_delivery_connections_total{result="ok|dial_error|greeting_error|tls_error|tls_policy|protocol_error"}
package delivery
