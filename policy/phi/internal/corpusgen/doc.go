// Package corpusgen generates the synthetic, labelled test corpus of
// testdata/phi (every person, number and organisation is invented) and
// builds the attachment formats the scanner reads (DOCX, XLSX, PDF, RTF,
// zip). It is used only by tests; see TestCorpusUpToDate for how the
// committed files are regenerated.
//
// Invariants: output depends only on the seed (math/rand/v2 PCG), so the
// committed files under testdata/phi/generated are reproducible; every
// generated identifier is invented but passes its checksum or format rule,
// and every "clean" template carries look-alikes that must not count.
package corpusgen
