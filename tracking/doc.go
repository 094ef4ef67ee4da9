// Package tracking owns engagement tracking: rewriting outbound HTML so
// links and an open pixel point at sealgate, the opaque tokens those URLs
// carry, the HTTP handlers that serve them, and the classifier that tells a
// person opening or clicking from the machines that fetch everything
// (Apple Mail Privacy Protection, Gmail's image proxy, security gateways
// such as Microsoft Safe Links, Proofpoint, Mimecast, Barracuda, Cisco,
// and scripts). Storage, reports and webhooks live in tracking/events,
// which implements EventSink.
//
// # Rewriting
//
// Rewrite copies an RFC 5322 message, walking its MIME tree line by line
// (RFC 2046 §5.1.1 boundaries) and touching only inline text/html bodies:
//
//  1. Headers are copied as they were (a header block over 1 MiB ends
//     parsing: the rest of the message is copied untouched, Stats.Passthrough);
//     X-Sealgate-Campaign is read
//     (CampaignFromHeader) and removed from the top-level header.
//  2. Multipart preambles, boundaries, epilogues and every non-HTML part
//     (text/plain, attachments, message/rfc822, attached .html files) are
//     copied byte for byte, streaming with bounded memory.
//  3. An HTML body is buffered (up to MaxHTMLBytes decoded, default
//     10 MiB, and at most twice that while still encoded; larger passes
//     through untouched and is counted in Stats.OversizedParts), decoded from its transfer
//     encoding (RFC 2045 §6.7 quoted-printable, §6.8 base64), rewritten
//     with the golang.org/x/net/html tokenizer, and re-encoded in the same
//     encoding with the message's own line endings. The charset is never
//     converted: bytes are spliced, only ASCII URLs are written, and an
//     href that is not pure printable ASCII is left alone.
//  4. Each absolute http(s) href of <a> and <area> (and of VML elements
//     such as <v:roundrect> inside Outlook <!--[if mso]> conditional
//     comments; other comments are left alone) becomes BaseURL/t/c/TOKEN,
//     numbered 1, 2, … in document order across the message. mailto:, tel:, fragments, relative links, links already
//     pointing at BaseURL/t/, links with data-sealgate-notrack and links
//     matching an exclusion (URL prefix, or host glob) stay as they are.
//  5. Before the first </body> (or at the end when there is none) go the
//     optional hidden honeypot link (BaseURL/t/h/TOKEN) and the 1×1 pixel
//     (BaseURL/t/o/TOKEN). Identity-encoded parts are kept under the RFC
//     5322 §2.1.1 998-octet line limit by breaking lines inside tags.
//
// Tokens carry Params.Recipient, so a message going to several
// recipients is rewritten once per recipient copy (or with an empty
// Recipient for message-level counts). On error dst holds a partial
// message and the caller falls back to the original.
//
// # Tokens
//
// A token is base64url (no padding) of: key ID (1 byte) ‖ random 24-byte
// nonce ‖ XChaCha20-Poly1305 ciphertext of {kind, issued-at, link index,
// message ID, recipient, sender, campaign, destination URL}, with the key
// ID as associated data. Nothing in a tracking URL is readable, and a
// change to any byte makes it fail to open, which the handlers answer with
// a bare 404. A click redirects only to the URL sealed inside its own
// token, and only http/https URLs are ever sealed, so there is no open
// redirect. Keys rotate: tokens of a previous key open until
// Keys.PreviousUntil. A valid token replayed is simply another event.
//
// # Classification
//
// Classifier.Classify is a pure function of one request and the earlier
// requests of the same recipient of the same message; the rules are
// documented on it. Scanner fingerprints and Apple's ranges are data files
// (embedded defaults under data/, overridable by path). The handlers and
// `sealgate tracking classify` share it. The live handlers get earlier
// requests from a History (default: RecentRequests, an in-memory bounded
// LRU keyed by a hash of message ID and recipient) and delivery times from
// DeliveryTimes.
//
// # Invariants
//
//   - No PHI in side channels: tracking URLs are ciphertext; events carry
//     identifiers, campaign, verdict and reason; logs and metrics carry
//     kinds, verdicts, reasons and error classes, never URLs, tokens,
//     addresses, IPs or user agents. Client IP and user agent reach an
//     event only with Options.StoreClientDetails.
//   - Bounded: header blocks (1 MiB, then pass-through), HTML parts
//     (MaxHTMLBytes), MIME depth (32), URL length (2048), the rate-limit
//     table and the history cache are all capped.
//   - No package-level mutable state: the embedded data is read-only and
//     everything else is passed in through Options and Params.
package tracking
