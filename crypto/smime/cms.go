package smime

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
)

// Object identifiers (RFC 5652 §4, §6; RFC 8017 Appendix A; RFC 3565 §4.1).
var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidAES256CBC     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// chunkSize is the size of each primitive OCTET STRING segment of the
// encrypted content; memory use does not depend on the message size.
const chunkSize = 16 * 1024

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type issuerAndSerial struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

type keyTransRecipientInfo struct {
	Version                int
	RID                    issuerAndSerial
	KeyEncryptionAlgorithm algorithmIdentifier
	EncryptedKey           []byte
}

// envelopeWriter streams a CMS EnvelopedData (RFC 5652 §6) in BER with
// indefinite lengths around the encrypted content, as `openssl cms -stream`
// does, so nothing has to be held in memory. Content encryption is
// AES-256-CBC (RFC 3565), key transport RSAES-PKCS1-v1_5 (RFC 8551 §2.3).
type envelopeWriter struct {
	out  *bufio.Writer
	mode cipher.BlockMode
	buf  []byte // plaintext not yet a whole block or chunk
}

func newEnvelopeWriter(w io.Writer, certs []*x509.Certificate) (*envelopeWriter, error) {
	key := make([]byte, 32)
	iv := make([]byte, aes.BlockSize)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(rand.Reader, iv); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}

	var ris []byte
	for _, c := range certs {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("smime: certificate %s: only RSA key transport is supported", Fingerprint(c))
		}
		ek, err := rsa.EncryptPKCS1v15(rand.Reader, pub, key)
		if err != nil {
			return nil, fmt.Errorf("smime: certificate %s: key transport: %w", Fingerprint(c), err)
		}
		ri := keyTransRecipientInfo{
			Version: 0,
			RID: issuerAndSerial{
				Issuer:       asn1.RawValue{FullBytes: c.RawIssuer},
				SerialNumber: c.SerialNumber,
			},
			KeyEncryptionAlgorithm: algorithmIdentifier{
				Algorithm:  oidRSAEncryption,
				Parameters: asn1.NullRawValue,
			},
			EncryptedKey: ek,
		}
		der, err := asn1.Marshal(ri)
		if err != nil {
			return nil, err
		}
		ris = append(ris, der...)
	}
	recipientInfos, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: ris})
	if err != nil {
		return nil, err
	}
	ivParam, err := asn1.Marshal(iv)
	if err != nil {
		return nil, err
	}
	alg, err := asn1.Marshal(algorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivParam}})
	if err != nil {
		return nil, err
	}
	dataOID, _ := asn1.Marshal(oidData)
	envOID, _ := asn1.Marshal(oidEnvelopedData)

	ew := &envelopeWriter{
		out:  bufio.NewWriterSize(w, chunkSize+64),
		mode: cipher.NewCBCEncrypter(block, iv),
		buf:  make([]byte, 0, chunkSize),
	}
	var head []byte
	head = append(head, 0x30, 0x80) // ContentInfo SEQUENCE
	head = append(head, envOID...)
	head = append(head, 0xa0, 0x80) // [0] EXPLICIT content
	head = append(head, 0x30, 0x80) // EnvelopedData SEQUENCE
	head = append(head, 0x02, 0x01, 0x00)
	head = append(head, recipientInfos...)
	head = append(head, 0x30, 0x80) // EncryptedContentInfo SEQUENCE
	head = append(head, dataOID...)
	head = append(head, alg...)
	head = append(head, 0xa0, 0x80) // [0] IMPLICIT OCTET STRING, constructed
	if _, err := ew.out.Write(head); err != nil {
		return nil, err
	}
	return ew, nil
}

// Write encrypts p, emitting whole chunks as they fill.
func (e *envelopeWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := chunkSize - len(e.buf)
		take := min(room, len(p))
		e.buf = append(e.buf, p[:take]...)
		p = p[take:]
		if len(e.buf) == chunkSize {
			if err := e.flushChunk(e.buf); err != nil {
				return 0, err
			}
			e.buf = e.buf[:0]
		}
	}
	return n, nil
}

func (e *envelopeWriter) flushChunk(plain []byte) error {
	e.mode.CryptBlocks(plain, plain)
	if err := writeOctetHeader(e.out, len(plain)); err != nil {
		return err
	}
	_, err := e.out.Write(plain)
	return err
}

// Close pads the last block (PKCS #7 padding, RFC 5652 §6.3) and writes the
// end-of-contents octets of every open indefinite-length element.
func (e *envelopeWriter) Close() error {
	pad := aes.BlockSize - len(e.buf)%aes.BlockSize
	for range pad {
		e.buf = append(e.buf, byte(pad))
	}
	if err := e.flushChunk(e.buf); err != nil {
		return err
	}
	// [0] content, EncryptedContentInfo, EnvelopedData, [0] EXPLICIT, ContentInfo.
	if _, err := e.out.Write(make([]byte, 10)); err != nil {
		return err
	}
	return e.out.Flush()
}

func writeOctetHeader(w io.Writer, n int) error {
	var h []byte
	switch {
	case n < 0x80:
		h = []byte{0x04, byte(n)}
	case n < 0x100:
		h = []byte{0x04, 0x81, byte(n)}
	case n < 0x10000:
		h = []byte{0x04, 0x82, byte(n >> 8), byte(n)}
	default:
		h = []byte{0x04, 0x83, byte(n >> 16), byte(n >> 8), byte(n)}
	}
	_, err := w.Write(h)
	return err
}
