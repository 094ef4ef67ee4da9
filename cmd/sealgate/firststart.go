package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/sealgate/sealgate/config"
	"github.com/sealgate/sealgate/crypto/dkim"
	"github.com/sealgate/sealgate/internal/safefile"
)

// The files sealgate makes on first start when the configuration names none:
// the queue's at-rest key, a self-signed TLS certificate and the DKIM keys
// marked "generate". Files the configuration names explicitly must exist.

// queueKey returns the 32-byte AES-256-GCM key for message bodies at rest.
func queueKey(cfg *config.Config) ([]byte, error) {
	path := cfg.Path(cfg.Queue.KeyFile)
	generate := path == ""
	if generate {
		path = cfg.DataPath("queue.key")
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && generate {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := safefile.WriteNew(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("queue key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("queue key %s: want 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`", path)
	}
	return key, nil
}

// serverCertificate loads the configured certificate or, with none
// configured, a self-signed one for the host name made on first start.
func serverCertificate(cfg *config.Config) (tls.Certificate, error) {
	certFile, keyFile := cfg.Path(cfg.SMTP.TLS.CertFile), cfg.Path(cfg.SMTP.TLS.KeyFile)
	if certFile == "" {
		certFile, keyFile = cfg.DataPath("tls.crt"), cfg.DataPath("tls.key")
		if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
			if err := makeSelfSigned(cfg.Hostname, certFile, keyFile); err != nil {
				return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
			}
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate: %w", err)
	}
	return cert, nil
}

func makeSelfSigned(host, certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := safefile.WriteNew(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return safefile.WriteNew(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// dkimKeys loads every configured key, making those marked "generate" that
// do not exist yet and printing the DNS record to publish for them.
func dkimKeys(cfg *config.Config, out io.Writer) ([]dkim.Key, error) {
	var keys []dkim.Key
	for _, k := range cfg.DKIM.Keys {
		path := cfg.Path(k.KeyFile)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && k.Generate != "" {
			signer, err := dkim.GenerateKey(dkim.Algorithm(k.Generate))
			if err != nil {
				return nil, err
			}
			if err := dkim.WriteKeyFile(path, signer); err != nil {
				return nil, err
			}
			line, err := dkim.ZoneLine(k.Domain, k.Selector, signer)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(out, "made DKIM key %s; publish:\n  %s\n", path, line)
		}
		signer, err := dkim.LoadKey(path)
		if err != nil {
			return nil, fmt.Errorf("dkim key %s for %s: %w", path, k.Domain, err)
		}
		keys = append(keys, dkim.Key{Domain: k.Domain, Selector: k.Selector, Signer: signer})
	}
	return keys, nil
}

// checkFiles reports files the configuration names that cannot be used,
// without making anything (for `config check`).
func checkFiles(cfg *config.Config) []string {
	var problems []string
	bad := func(what, path string, err error) {
		problems = append(problems, fmt.Sprintf("%s: %s %s: %v", cfg.File, what, path, err))
	}
	if cfg.SMTP.TLS.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(cfg.Path(cfg.SMTP.TLS.CertFile), cfg.Path(cfg.SMTP.TLS.KeyFile)); err != nil {
			bad("smtp.tls", cfg.Path(cfg.SMTP.TLS.CertFile), err)
		}
	}
	if cfg.SMTP.TLS.ClientCAFile != "" {
		if _, err := loadCertPool(cfg.Path(cfg.SMTP.TLS.ClientCAFile)); err != nil {
			bad("smtp.tls.client_ca_file", cfg.Path(cfg.SMTP.TLS.ClientCAFile), err)
		}
	}
	if cfg.Delivery.CAFile != "" {
		if _, err := loadCertPool(cfg.Path(cfg.Delivery.CAFile)); err != nil {
			bad("delivery.ca_file", cfg.Path(cfg.Delivery.CAFile), err)
		}
	}
	for _, k := range cfg.DKIM.Keys {
		if k.Generate != "" {
			continue
		}
		if _, err := dkim.LoadKey(cfg.Path(k.KeyFile)); err != nil {
			bad("dkim key", cfg.Path(k.KeyFile), err)
		}
	}
	if p := cfg.Delivery.SmarthostAuth.PasswordFile; p != "" {
		if _, err := os.ReadFile(cfg.Path(p)); err != nil {
			bad("delivery.smarthost_auth.password_file", cfg.Path(p), err)
		}
	}
	for _, sub := range cfg.Tracking.Webhooks.Subscribers {
		if _, err := os.ReadFile(cfg.Path(sub.SecretFile)); err != nil {
			bad("tracking.webhooks secret_file of "+sub.Name, cfg.Path(sub.SecretFile), err)
		}
	}
	if p := cfg.Tracking.AdminTokenFile; p != "" {
		if _, err := os.ReadFile(cfg.Path(p)); err != nil {
			bad("tracking.admin_token_file", cfg.Path(p), err)
		}
	}
	if p := cfg.Queue.KeyFile; p != "" {
		if _, err := queueKey(cfg); err != nil {
			bad("queue.key_file", cfg.Path(p), err)
		}
	}
	return problems
}

func loadCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("no PEM certificates found")
	}
	return pool, nil
}
