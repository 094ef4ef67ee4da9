// Package smtpd is sealgate's inbound SMTP side: the listeners upstream mail
// servers relay into, who may relay, and the limits that keep a hostile
// client from costing more than a bounded amount of time and memory.
//
// A transaction goes through these steps:
//
//  1. Accept: the listener wrapper counts connections in total and per client
//     IP; over either limit the client gets "421 4.7.0" and is disconnected
//     before any SMTP state exists. Implicit-TLS listeners handshake first.
//  2. EHLO: go-smtp advertises PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES,
//     CHUNKING, SIZE, SMTPUTF8 and, once TLS is up, REQUIRETLS (RFC 8689) and
//     AUTH (RFC 4954; never offered in cleartext).
//  3. MAIL FROM: the SIZE parameter is checked against the limit (552 5.3.4),
//     the sender syntax and, when configured, its domain against the allowed
//     sender domains (550 5.7.1). The null sender is accepted (bounces).
//  4. RCPT TO: the client must be allowed to relay: its address is in a
//     relay network, it authenticated, or it showed a client certificate that
//     chains to the configured CA. Otherwise "554 5.7.1 Relay access denied"
//     (RFC 5321 §3.6.2: no open relay). Recipient count is bounded
//     (452 4.5.3, RFC 5321 §4.5.3.1.8).
//  5. DATA/BDAT: the body streams through a guard that rejects any CR not
//     followed by LF and any LF not preceded by CR (554 5.6.0): that closes
//     SMTP smuggling, where a peer that ends DATA at a bare "\n.\n" would see
//     two messages where sealgate sees one. go-smtp ends DATA only at
//     CRLF.CRLF and drains the rest, so the smuggled text is never a command.
//     A Received header (RFC 5321 §4.4) is prepended. The size limit applies
//     to the body as it arrives (552 5.3.4).
//  6. The message goes to the Spooler, which returns only once body and
//     envelope are fsynced; only then is "250 2.0.0 Ok: queued as ID" sent.
//     Any spool error is a temporary 451 and nothing is acknowledged.
//
// Replies never echo message content. Logs carry the queue ID, client
// address, envelope and sizes, never the subject or body.
package smtpd
