package dkim

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// Key is one signing key.
type Key struct {
	Domain   string
	Selector string
	Signer   crypto.Signer // *rsa.PrivateKey or ed25519.PrivateKey
}

// signedHeaders is RFC 6376 §5.4.1's list, plus the MIME and list headers
// whose change would alter what the reader sees. "From" appears twice: once
// for the header, once more to oversign it.
var signedHeaders = []string{
	"From", "From", "Reply-To", "Subject", "Date", "To", "Cc",
	"Resent-Date", "Resent-From", "Resent-To", "Resent-Cc",
	"In-Reply-To", "References", "Message-ID",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
	"List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Post", "List-Owner", "List-Archive",
}

// maxHeaderBytes bounds the header section read to find From.
const maxHeaderBytes = 1 << 20

// Signer signs with every key that applies to a message's From domain.
type Signer struct {
	keys []Key
}

// NewSigner checks the keys: RSA of at least 1024 bits (2048 recommended, RFC
// 8301 §3.2) or Ed25519.
func NewSigner(keys []Key) (*Signer, error) {
	for _, k := range keys {
		switch pk := k.Signer.(type) {
		case *rsa.PrivateKey:
			if pk.N.BitLen() < 1024 {
				return nil, fmt.Errorf("dkim: key %s._domainkey.%s: RSA keys under 1024 bits are not allowed (RFC 8301)", k.Selector, k.Domain)
			}
		case ed25519.PrivateKey:
		default:
			return nil, fmt.Errorf("dkim: key %s._domainkey.%s: unsupported key type %T", k.Selector, k.Domain, k.Signer)
		}
		if k.Domain == "" || k.Selector == "" {
			return nil, errors.New("dkim: key without domain or selector")
		}
	}
	return &Signer{keys: keys}, nil
}

// Sign reads a whole RFC 5322 message and returns the DKIM-Signature header
// fields to prepend to it (nil when no key applies to its From domain).
func (s *Signer) Sign(r io.Reader) ([]byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	header, err := readHeader(br)
	if err != nil {
		return nil, err
	}
	domain, err := fromDomain(header)
	if err != nil {
		return nil, err
	}
	keys := s.keysFor(domain)
	if len(keys) == 0 {
		return nil, nil
	}
	signers := make([]*dkim.Signer, 0, len(keys))
	writers := make([]io.Writer, 0, len(keys))
	for _, k := range keys {
		ds, err := dkim.NewSigner(&dkim.SignOptions{
			Domain:                 k.Domain,
			Selector:               k.Selector,
			Signer:                 k.Signer,
			Hash:                   crypto.SHA256,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             signedHeaders,
		})
		if err != nil {
			return nil, fmt.Errorf("dkim: %w", err)
		}
		signers = append(signers, ds)
		writers = append(writers, ds)
	}
	w := io.MultiWriter(writers...)
	_, err = w.Write(header)
	if err == nil {
		_, err = io.Copy(w, br)
	}
	var out bytes.Buffer
	for _, ds := range signers {
		if cerr := ds.Close(); cerr != nil && err == nil {
			err = cerr
		}
		out.WriteString(ds.Signature())
	}
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	return out.Bytes(), nil
}

func (s *Signer) keysFor(domain string) []Key {
	var out []Key
	for _, k := range s.keys {
		kd := strings.ToLower(strings.TrimSuffix(k.Domain, "."))
		if domain == kd || strings.HasSuffix(domain, "."+kd) {
			out = append(out, k)
		}
	}
	return out
}

// readHeader returns the header section including the blank line that ends it.
func readHeader(br *bufio.Reader) ([]byte, error) {
	var buf bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		buf.Write(line)
		if buf.Len() > maxHeaderBytes {
			return nil, errors.New("dkim: header section over 1 MiB")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF {
				return buf.Bytes(), nil
			}
			return nil, err
		}
		if len(line) <= 2 && strings.TrimRight(string(line), "\r\n") == "" {
			return buf.Bytes(), nil
		}
	}
}

// fromDomain is the lowercased domain of the single From address.
func fromDomain(header []byte) (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(append(append([]byte(nil), header...), '\r', '\n')))
	if err != nil {
		return "", nil // unparseable header: sign nothing, deliver as is
	}
	from := msg.Header.Get("From")
	if from == "" {
		return "", nil
	}
	addrs, err := mail.ParseAddressList(from)
	if err != nil || len(addrs) != 1 {
		return "", nil
	}
	at := strings.LastIndexByte(addrs[0].Address, '@')
	if at < 0 {
		return "", nil
	}
	return strings.ToLower(addrs[0].Address[at+1:]), nil
}
