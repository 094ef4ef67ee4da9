// Package mimewrap prepares an RFC 5322 message for end-to-end encryption:
// it splits the header section into the fields that stay outside the
// encryption and the MIME entity that goes inside, and provides the
// streaming writers both encryption formats need (CRLF canonicalisation,
// 76-column base64, a size bound that fails rather than truncates).
//
// It is shared by crypto/smime (RFC 8551) and crypto/pgp (RFC 3156) so that
// both fallbacks protect headers the same way.
//
// Invariants:
//   - Content-* fields (RFC 2045 §9) always move inside; the caller writes its
//     own outer Content-* fields.
//   - With HideSubject, the outer header keeps only transport, reply and
//     threading fields (From, To, Cc, Date, Message-ID, In-Reply-To,
//     References, Reply-To, Sender, MIME-Version, Received, Return-Path,
//     Auto-Submitted, List-Id, List-Unsubscribe[-Post]) plus a generic
//     Subject. Every other field, including the real Subject and fields
//     that echo it such as Thread-Topic, travels only inside, as protected
//     headers: copied verbatim into the inner entity's header, whose
//     Content-Type carries protected-headers="v1"
//     (draft-autocrypt-lamps-protected-headers). A reader that does not know
//     the convention still sees them as ordinary header lines of the
//     decrypted part, e.g. in the output of `openssl cms -decrypt`.
//   - Bcc is dropped (RFC 5322 §3.6.3), and so is DKIM-Signature, which the
//     new body would break.
//   - Errors never quote message content.
//   - The body is never buffered: Message.Body is the caller's reader.
package mimewrap
