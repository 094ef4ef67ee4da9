package config

import (
	"os"
	"path/filepath"
	"strings"
)

// Config is the whole sealgate configuration: one YAML file, documented in
// full in packaging/sealgate.yaml. The keys of DESIGN.md's skeleton are stable.
type Config struct {
	Hostname   string           `yaml:"hostname"`
	DataDir    string           `yaml:"data_dir"`
	Log        LogConfig        `yaml:"log"`
	SMTP       SMTPConfig       `yaml:"smtp"`
	Queue      QueueConfig      `yaml:"queue"`
	Delivery   DeliveryConfig   `yaml:"delivery"`
	DKIM       DKIMConfig       `yaml:"dkim"`
	Metrics    MetricsConfig    `yaml:"metrics"`
	Web        WebConfig        `yaml:"web"`
	PHI        PHIConfig        `yaml:"phi"`
	Tracking   TrackingConfig   `yaml:"tracking"`
	Policy     PolicyConfig     `yaml:"policy"`
	Keys       KeysConfig       `yaml:"keys"`
	Encryption EncryptionConfig `yaml:"encryption"`

	// File is the path the configuration was read from ("" for the embedded
	// defaults); BaseDir is its folder, against which relative paths resolve.
	File    string `yaml:"-"`
	BaseDir string `yaml:"-"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// SMTPConfig is the inbound side: where upstream servers connect and who may relay.
type SMTPConfig struct {
	Listeners            []ListenerConfig `yaml:"listeners"`
	TLS                  TLSConfig        `yaml:"tls"`
	RelayNetworks        []string         `yaml:"relay_networks"`
	Users                []UserConfig     `yaml:"users"`
	AllowedSenderDomains []string         `yaml:"allowed_sender_domains"`
	MaxMessageSize       ByteSize         `yaml:"max_message_size"`
	MaxRecipients        int              `yaml:"max_recipients"`
	MaxConnections       int              `yaml:"max_connections"`
	MaxConnectionsPerIP  int              `yaml:"max_connections_per_ip"`
	MaxLineLength        int              `yaml:"max_line_length"`
	CommandTimeout       Duration         `yaml:"command_timeout"`
	DataTimeout          Duration         `yaml:"data_timeout"`
}

// ListenerConfig is one SMTP listening socket.
type ListenerConfig struct {
	Address string `yaml:"address"`
	TLS     string `yaml:"tls"` // starttls | implicit | none
}

// TLSConfig is the server certificate and, optionally, the CA that client
// certificates must chain to for certificate-based relay access.
type TLSConfig struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// UserConfig is one SMTP AUTH user. Passwords are stored as bcrypt hashes
// (`sealgate passwd` prints one).
type UserConfig struct {
	Name         string `yaml:"name"`
	PasswordHash string `yaml:"password_hash"`
}

// QueueConfig tunes the durable queue and its retry schedule.
type QueueConfig struct {
	KeyFile      string   `yaml:"key_file"`
	Workers      int      `yaml:"workers"`
	MinRetry     Duration `yaml:"min_retry"`
	MaxRetry     Duration `yaml:"max_retry"`
	MaxLifetime  Duration `yaml:"max_lifetime"`
	DelayWarning Duration `yaml:"delay_warning"`
}

// DeliveryConfig is the outbound side.
type DeliveryConfig struct {
	DNSServers        []string          `yaml:"dns_servers"`
	Smarthost         string            `yaml:"smarthost"`
	SmarthostAuth     SmarthostAuth     `yaml:"smarthost_auth"`
	SmarthostTLS      string            `yaml:"smarthost_tls"`
	Routes            map[string]string `yaml:"routes"`
	TLSPolicy         string            `yaml:"tls_policy"`
	DomainTLSPolicy   map[string]string `yaml:"domain_tls_policy"`
	CAFile            string            `yaml:"ca_file"`
	Port              int               `yaml:"port"`
	ConnectTimeout    Duration          `yaml:"connect_timeout"`
	CommandTimeout    Duration          `yaml:"command_timeout"`
	DataTimeout       Duration          `yaml:"data_timeout"`
	MaxPerDestination int               `yaml:"max_per_destination"`
	// MTASTS and DANE verify MX certificates (RFC 8461, RFC 7672); DANE
	// needs a validating resolver in dns_servers.
	MTASTS bool `yaml:"mta_sts"`
	DANE   bool `yaml:"dane"`
	// TLSDowngrade is what happens when a domain that had verified TLS
	// suddenly does not: report (log and count) or enforce (refuse).
	TLSDowngrade string `yaml:"tls_downgrade"`
}

// SmarthostAuth is the optional AUTH for the smarthost; the password lives
// in its own file so the config can be world-readable.
type SmarthostAuth struct {
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
}

// DKIMConfig lists the signing keys. Two keys for one domain (RSA and
// Ed25519) give dual signatures.
type DKIMConfig struct {
	Keys []DKIMKeyConfig `yaml:"keys"`
}

// DKIMKeyConfig is one signing key.
type DKIMKeyConfig struct {
	Domain   string `yaml:"domain"`
	Selector string `yaml:"selector"`
	KeyFile  string `yaml:"key_file"`
	// Generate makes the key on first start when key_file does not exist,
	// with this algorithm (rsa | ed25519). Empty: a missing file is an error.
	Generate string `yaml:"generate"`
}

// MetricsConfig is the Prometheus listener.
type MetricsConfig struct {
	Address string `yaml:"address"`
}

// WebConfig is the HTTP listener for tracking, portal and the admin API.
type WebConfig struct {
	Address        string   `yaml:"address"`
	BaseURL        string   `yaml:"base_url"`
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Path resolves p against the config file's folder; absolute paths and ""
// are returned as they are.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.BaseDir, p)
}

// DataPath is a file inside the data directory.
func (c *Config) DataPath(name string) string {
	return filepath.Join(c.Path(c.DataDir), name)
}

// Embedded is the configuration `sealgate serve` runs on without a file:
// Default plus an RSA and an Ed25519 DKIM key for the host name, made on
// first start like the TLS certificate and the queue key.
func Embedded() *Config {
	c := Default()
	c.DKIM.Keys = []DKIMKeyConfig{
		{Domain: c.Hostname, Selector: "sg-rsa", KeyFile: "sealgate-data/dkim/sg-rsa.key", Generate: "rsa"},
		{Domain: c.Hostname, Selector: "sg-ed", KeyFile: "sealgate-data/dkim/sg-ed.key", Generate: "ed25519"},
	}
	return c
}

// Default holds the value of every key a file leaves out: loopback only,
// data in ./sealgate-data, the queue key and a self-signed certificate made
// on first start when no files are named.
func Default() *Config {
	host, err := os.Hostname()
	if err != nil || !strings.Contains(host, ".") {
		host = "localhost.localdomain"
	}
	return &Config{
		Hostname: host,
		DataDir:  "sealgate-data",
		Log:      LogConfig{Level: "info", Format: "text"},
		SMTP: SMTPConfig{
			Listeners:           []ListenerConfig{{Address: "127.0.0.1:2525", TLS: "starttls"}},
			RelayNetworks:       []string{"127.0.0.0/8", "::1/128"},
			MaxMessageSize:      50 << 20,
			MaxRecipients:       1000,
			MaxConnections:      1000,
			MaxConnectionsPerIP: 100,
			MaxLineLength:       4096,
			CommandTimeout:      Duration(5 * 60e9),
			DataTimeout:         Duration(10 * 60e9),
		},
		Queue: QueueConfig{
			Workers:      20,
			MinRetry:     Duration(60e9),
			MaxRetry:     Duration(3600e9),
			MaxLifetime:  Duration(5 * 24 * 3600e9),
			DelayWarning: Duration(4 * 3600e9),
		},
		Delivery: DeliveryConfig{
			SmarthostTLS:      "required",
			TLSPolicy:         "opportunistic",
			Port:              25,
			ConnectTimeout:    Duration(30e9),
			CommandTimeout:    Duration(5 * 60e9),
			DataTimeout:       Duration(10 * 60e9),
			MaxPerDestination: 10,
			MTASTS:            true,
			DANE:              true,
			TLSDowngrade:      "report",
		},
		Encryption: EncryptionConfig{GenericSubject: "Secure message", MaxSize: 64 << 20},
		Metrics:    MetricsConfig{Address: "127.0.0.1:9100"},
		Web:        WebConfig{Address: "127.0.0.1:8443", BaseURL: "http://127.0.0.1:8443"},
		BaseDir:    ".",
	}
}
