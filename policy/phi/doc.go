// Package phi decides whether an e-mail message contains protected health
// information (PHI), and what kind. It is a pure library: no network, no
// files, no package-level mutable state; a Scanner is built once with New
// and is safe for concurrent use by the relay and the CLI.
//
// # What it owns
//
// The judgement made for every outbound message: Scan reads a full RFC 5322
// message and returns a Result {phi, kinds, score, findings}. Findings are
// kinds, places and counts ("ssn ×2 in body"); a Result never carries a
// matched value. ScanExplain, for an operator's terminal only, adds masked
// examples such as "***-**-6789".
//
// # Invariants
//
//   - Anything that cannot be read is the finding "unscannable", which is a
//     standalone kind: encrypted zip or PDF, S/MIME or PGP encrypted parts,
//     corrupt transfer encodings, unknown binary attachments, attached
//     images, legacy Office files, parts beyond MaxParts/MaxDepth and
//     content beyond the scan limit. Scanning fails closed.
//   - Memory is bounded by Options.ScanLimit (default 25 MiB of decoded
//     content per message: text, attachment bytes and decompressed archive
//     members all count) plus a constant. The rest of an over-limit message
//     is not read.
//   - Work is linear in the message size. The detectors are one hand-written
//     left-to-right pass with constant look-ahead; custom rules use RE2
//     (regexp), which is linear by construction. No backtracking anywhere.
//   - Kind names are those of DESIGN.md; custom rules may add more.
//
// # Algorithm
//
//  1. Parse the header (RFC 5322 §2.2, §3.6) with go-message; decode the
//     Subject and other human-visible fields (Comments, Keywords,
//     Thread-Topic) per RFC 2047 and scan them as "subject"/"header".
//  2. Walk the MIME tree (RFC 2045, RFC 2046 §5.1) depth first. Each leaf is
//     decoded from its Content-Transfer-Encoding (RFC 2045 §6.7
//     quoted-printable, joining soft line breaks; §6.8 base64) and charset
//     (RFC 2046 §4.1.2) to UTF-8, within the remaining scan budget.
//     message/rfc822 parts (RFC 2046 §5.2.1) are walked as messages.
//  3. Turn each leaf into text: text/plain as is; HTML via
//     golang.org/x/net/html, keeping every text node (hidden ones too),
//     comments and alt/title attributes; CSV/TSV and XLSX rendered as
//     "Header: value" rows so a column label sits next to each value; DOCX
//     and PPTX XML text (including tracked deletions); RTF without control
//     words; PDF text operators from FlateDecode content streams; zip
//     members recursively. Signatures (application/pkcs7-signature,
//     application/pgp-signature) and inline images are skipped; see
//     Options for images.
//  4. Run the detector over each text unit: tokens are found with a
//     byte-class table; words go through a prefilter (first two letters,
//     last letter, length), a Bloom filter and an open-addressing dictionary of
//     labels ("SSN", "MRN#", "Med Rec No.", "DOB", "Member ID"...),
//     medications, conditions, procedures, lab tests, salutations, street
//     suffixes and patient-context phrases; digit runs are grouped
//     ("123-45-6789", "(555) 123-4567", "4111 1111 1111 1111") and
//     classified. Values are validated where a check exists: SSN area,
//     group and serial rules; Luhn and issuer ranges for cards; Luhn over
//     the 80840 prefix for NPI; the DEA check digit; the MBI character
//     classes; the ABA 3-7-1 checksum; ICD-10-CM category blocks.
//     Values whose pattern alone is weak (bare 9 digits, 5-digit CPT codes,
//     10-digit NPIs, member IDs, driver's licenses, account numbers) need
//     their label just before them; a nearer "order", "invoice", "tracking"
//     label cancels an unlabelled match.
//  5. Names (after "Patient:", "Pt:", "Name:", "Re:", a salutation or a
//     title such as "Mrs."), street addresses and phone numbers are kept
//     only when patient context is within Options.ContextWindow bytes (or
//     in the subject): phrases like "your lab results", "diagnosed with", a
//     lab value, a medication with a dose, "your"/"su" before a health
//     term, an MRN; in the subject line any health term is context. A name
//     after a patient label carries its own context. "Surname, Given" and
//     "Surname, 54F" at the start of a line or column count when a health
//     term is on the same line (clinic lists, chart shorthand). An
//     unlabelled dashed SSN counts only when a name or date of birth is in
//     the same text.
//  6. Custom rules (RE2 patterns or keyword lists, optionally requiring
//     context words within a window) and per-organisation MRN patterns run
//     over the same text. Allow-listed phones, addresses and values never
//     count.
//  7. Verdict. Each kind found adds its weight once (defaults in kinds.go;
//     overridable), plus 0.3 when patient context was seen. The message is
//     PHI when a standalone kind was found (ssn, mrn, medicare_mbi,
//     health_plan_id, patient_name_with_health_context, unscannable, and
//     any configured as standalone), or when the score reaches the
//     threshold (default 1.0) with an identifier kind (dob, credit_card,
//     bank_account, drivers_license, dea) and health information or
//     patient context. Quasi-identifiers (an address or phone number with
//     health context, an NPI) add to the score but never suffice without
//     an identifier: a clinic's newsletter footer is not a patient.
package phi
