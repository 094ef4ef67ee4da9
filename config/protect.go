package config

// KeysConfig is the store of recipients' S/MIME certificates and OpenPGP
// public keys, used when TLS cannot protect a message.
type KeysConfig struct {
	Dir string `yaml:"dir"` // default: data_dir/keys
	// WKD looks OpenPGP keys up in the recipient domain's Web Key Directory.
	WKD bool `yaml:"wkd"`
}

// EncryptionConfig shapes the S/MIME and PGP/MIME messages sealgate makes.
type EncryptionConfig struct {
	// GenericSubject replaces the Subject of an encrypted message; the real
	// one travels inside, encrypted (protected headers).
	GenericSubject string   `yaml:"generic_subject"`
	MaxSize        ByteSize `yaml:"max_size"`
}

// validate checks the keys and encryption sections.
func (c *Config) validateProtection(p *Problems) {
	if c.Encryption.MaxSize < 0 {
		p.Add("encryption.max_size", "must not be negative")
	}
	for _, r := range c.Encryption.GenericSubject {
		if r == '\r' || r == '\n' {
			p.Add("encryption.generic_subject", "must be one line")
			break
		}
	}
	oneOf(p, "delivery.tls_downgrade", c.Delivery.TLSDowngrade, "report", "enforce")
}

// KeysDir is the key store folder.
func (c *Config) KeysDir() string {
	if c.Keys.Dir == "" {
		return c.DataPath("keys")
	}
	return c.Path(c.Keys.Dir)
}
