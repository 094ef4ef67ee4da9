package queue

import (
	"bufio"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Spool file format (version 1), one file per message at spool/<id>:
//
//	header  = "SGQ" 0x01 | segsize uint32 BE | salt [32]byte        (40 bytes)
//	segment = AES-256-GCM(key, nonce, plaintext, aad=header)        (plaintext + 16-byte tag)
//	key     = HKDF-SHA256(secret=Options.Key, salt=salt, info="sealgate queue spool v1\x00"+id)
//	nonce   = counter (11 bytes, big endian) | final flag (1 byte: 1 on the last segment)
//
// Every segment but the last holds exactly segsize plaintext bytes; the last
// holds 0..segsize bytes and is sealed with the final flag. This is the STREAM
// construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): reordering changes
// the counter, truncation at a segment boundary leaves a segment that was not
// sealed as final, appending leaves a final segment that is not last, and
// swapping whole files between messages changes the derived key (the id is in
// the HKDF info). All of these fail authentication, and no plaintext of a
// segment is released before its tag has been checked.
const (
	spoolMagic      = "SGQ\x01"
	spoolHeaderLen  = 4 + 4 + 32
	spoolSegSize    = 64 << 10
	spoolMinSegSize = 1 << 10
	spoolMaxSegSize = 1 << 20
	spoolTagLen     = 16
	spoolKDFInfo    = "sealgate queue spool v1\x00"
	spoolTmpPrefix  = "tmp-"
)

// ErrCorrupt reports a spool body that failed authentication: it was
// truncated, reordered, extended, swapped or altered on disk.
var ErrCorrupt = errors.New("queue: spool body failed integrity check (corrupted, truncated or tampered)")

func fileAEAD(master []byte, salt []byte, id string) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, master, salt, spoolKDFInfo+id, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func segNonce(dst []byte, counter uint64, final bool) []byte {
	clear(dst[:12])
	binary.BigEndian.PutUint64(dst[3:11], counter)
	if final {
		dst[11] = 1
	}
	return dst[:12]
}

// sealWriter encrypts a stream into the spool format. It buffers one
// segment; memory use does not depend on the message size.
type sealWriter struct {
	w       io.Writer
	aead    cipher.AEAD
	header  []byte
	buf     []byte // plaintext of the pending segment, at most segsize
	out     []byte // ciphertext scratch, grown on demand
	nonce   [12]byte
	counter uint64
	n       int64
	closed  bool
}

func newSealWriter(w io.Writer, master []byte, id string) (*sealWriter, error) {
	header := make([]byte, spoolHeaderLen)
	copy(header, spoolMagic)
	binary.BigEndian.PutUint32(header[4:8], spoolSegSize)
	if _, err := rand.Read(header[8:]); err != nil {
		return nil, err
	}
	aead, err := fileAEAD(master, header[8:], id)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(header); err != nil {
		return nil, err
	}
	return &sealWriter{
		w:      w,
		aead:   aead,
		header: header,
	}, nil
}

func (s *sealWriter) Write(p []byte) (int, error) {
	if s.closed {
		return 0, errors.New("queue: write after close")
	}
	written := 0
	for len(p) > 0 {
		if len(s.buf) == spoolSegSize {
			// More data follows, so the full buffer is not the last segment.
			if err := s.flush(false); err != nil {
				return written, err
			}
		}
		n := min(len(p), spoolSegSize-len(s.buf))
		s.buf = append(s.buf, p[:n]...) // grows to one segment at most
		p = p[n:]
		written += n
		s.n += int64(n)
	}
	return written, nil
}

func (s *sealWriter) flush(final bool) error {
	s.out = s.aead.Seal(s.out[:0], segNonce(s.nonce[:], s.counter, final), s.buf, s.header)
	s.counter++
	s.buf = s.buf[:0]
	_, err := s.w.Write(s.out)
	return err
}

// Close seals the final segment. It does not close the underlying writer.
func (s *sealWriter) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.flush(true)
}

// openReader decrypts a spool stream. Read returns ErrCorrupt (never
// unauthenticated bytes) when a segment fails authentication, and ErrCorrupt
// instead of io.EOF when the stream ends without its final segment.
type openReader struct {
	r       *bufio.Reader
	aead    cipher.AEAD
	header  []byte
	seg     []byte // ciphertext scratch
	plain   []byte // decrypted, not yet returned
	nonce   [12]byte
	counter uint64
	segSize int
	done    bool
	err     error
}

func newOpenReader(r io.Reader, master []byte, id string) (*openReader, error) {
	br := bufio.NewReaderSize(r, 32<<10)
	header := make([]byte, spoolHeaderLen)
	if _, err := io.ReadFull(br, header); err != nil {
		return nil, fmt.Errorf("%w: short header", ErrCorrupt)
	}
	if string(header[:4]) != spoolMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	segSize := int(binary.BigEndian.Uint32(header[4:8]))
	if segSize < spoolMinSegSize || segSize > spoolMaxSegSize {
		return nil, fmt.Errorf("%w: bad segment size", ErrCorrupt)
	}
	aead, err := fileAEAD(master, header[8:], id)
	if err != nil {
		return nil, err
	}
	return &openReader{
		r:       br,
		aead:    aead,
		header:  header,
		seg:     make([]byte, segSize+spoolTagLen),
		segSize: segSize,
	}, nil
}

func (o *openReader) Read(p []byte) (int, error) {
	for len(o.plain) == 0 {
		if o.err != nil {
			return 0, o.err
		}
		if o.done {
			return 0, io.EOF
		}
		o.err = o.next()
	}
	n := copy(p, o.plain)
	o.plain = o.plain[n:]
	return n, nil
}

func (o *openReader) next() error {
	n, err := io.ReadFull(o.r, o.seg)
	final := false
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		final = true
	case err != nil:
		return err
	default:
		if _, perr := o.r.Peek(1); perr == io.EOF {
			final = true
		} else if perr != nil {
			return perr
		}
	}
	if n < spoolTagLen {
		return fmt.Errorf("%w: truncated", ErrCorrupt)
	}
	plain, oerr := o.aead.Open(o.seg[:0], segNonce(o.nonce[:], o.counter, final), o.seg[:n], o.header)
	if oerr != nil {
		return ErrCorrupt
	}
	o.counter++
	o.plain = plain
	o.done = final
	return nil
}

// spoolPath is the body file of message id.
func (q *Queue) spoolPath(id string) string { return filepath.Join(q.spoolDir, id) }

// writeSpool encrypts body into spool/<id> the way chasquid writes files:
// a temporary file in the same directory, fsync, rename. The caller must
// fsync the spool directory before relying on the name (the committer does
// that once per group commit). It returns the plaintext size.
func (q *Queue) writeSpool(ctx context.Context, id string, body io.Reader, maxSize int64) (size int64, err error) {
	tmp := filepath.Join(q.spoolDir, spoolTmpPrefix+id)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 128<<10)
	sw, err := newSealWriter(bw, q.opts.Key, id)
	if err != nil {
		return 0, err
	}
	src := io.Reader(&ctxReader{ctx: ctx, r: body})
	if maxSize > 0 {
		src = io.LimitReader(src, maxSize+1)
	}
	buf := make([]byte, 32<<10)
	if _, err = io.CopyBuffer(sw, src, buf); err != nil {
		return 0, err
	}
	if maxSize > 0 && sw.n > maxSize {
		return 0, ErrTooBig
	}
	if err = sw.Close(); err != nil {
		return 0, err
	}
	if err = bw.Flush(); err != nil {
		return 0, err
	}
	if err = f.Sync(); err != nil {
		return 0, err
	}
	q.fileSyncs.Add(1)
	if err = f.Close(); err != nil {
		return 0, err
	}
	if err = os.Rename(tmp, q.spoolPath(id)); err != nil {
		return 0, err
	}
	return sw.n, nil
}

// openSpool returns a decrypting reader over the body of message id.
func (q *Queue) openSpool(id string) (io.ReadCloser, error) {
	f, err := os.Open(q.spoolPath(id))
	if err != nil {
		return nil, err
	}
	r, err := newOpenReader(f, q.opts.Key, id)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &spoolReadCloser{Reader: r, f: f}, nil
}

type spoolReadCloser struct {
	io.Reader
	f *os.File
}

func (s *spoolReadCloser) Close() error { return s.f.Close() }

// verifySpool decrypts the whole body once, in constant memory, and reports
// whether every segment authenticates and the plaintext size matches.
func (q *Queue) verifySpool(id string, size int64) error {
	rc, err := q.openSpool(id)
	if err != nil {
		return err
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%w: size %d, want %d", ErrCorrupt, n, size)
	}
	return nil
}

// syncSpoolDir makes renames and removals in the spool directory durable.
func (q *Queue) syncSpoolDir() error {
	d, err := os.Open(q.spoolDir)
	if err != nil {
		return err
	}
	defer d.Close()
	err = d.Sync()
	q.dirSyncs.Add(1)
	return err
}

func isTmpName(name string) bool { return strings.HasPrefix(name, spoolTmpPrefix) }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
