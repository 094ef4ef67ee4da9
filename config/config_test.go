package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sealgate.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEmbeddedDefaultsAreValid(t *testing.T) {
	c := Embedded()
	var ps Problems
	c.Validate(&ps)
	if len(ps) != 0 {
		t.Fatalf("embedded defaults invalid: %v", ps)
	}
	if c.SMTP.Listeners[0].Address != "127.0.0.1:2525" {
		t.Errorf("default SMTP listener = %q, want 127.0.0.1:2525", c.SMTP.Listeners[0].Address)
	}
	if got := c.DataPath("queue.db"); got != filepath.Join("sealgate-data", "queue.db") {
		t.Errorf("DataPath = %q", got)
	}
}

func TestLoadSkeletonFromDesign(t *testing.T) {
	path := writeConfig(t, `
hostname: gw.example.com
data_dir: /var/lib/sealgate
smtp:
  listeners:
    - address: 0.0.0.0:25
      tls: starttls
  tls:
    cert_file: /etc/sealgate/tls.crt
    key_file: /etc/sealgate/tls.key
  relay_networks: [10.0.0.0/8]
delivery:
  dns_servers: [127.0.0.53:53]
  smarthost: ""
  routes:
    example.org: 10.1.2.3:25
dkim:
  keys:
    - domain: example.com
      selector: s2026
      key_file: dkim/example.com.s2026.key
metrics:
  address: 127.0.0.1:9100
web:
  address: 127.0.0.1:8443
  base_url: https://gw.example.com
queue:
  max_lifetime: 3d
  delay_warning: 2h
smtp_unused_check: null
`)
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), `sealgate.yaml:30: unknown key "smtp_unused_check"`) {
		t.Fatalf("want unknown-key error at line 30, got %v", err)
	}
	body, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(body), "smtp_unused_check: null\n", "", 1)), 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Delivery.Routes["example.org"] != "10.1.2.3:25" || c.Hostname != "gw.example.com" {
		t.Errorf("decoded wrongly: %+v", c.Delivery)
	}
	if c.Queue.MaxLifetime.D() != 72*time.Hour || c.Queue.DelayWarning.D() != 2*time.Hour {
		t.Errorf("durations: %v %v", c.Queue.MaxLifetime.D(), c.Queue.DelayWarning.D())
	}
	if c.SMTP.MaxMessageSize != 50<<20 {
		t.Errorf("default max_message_size lost: %d", c.SMTP.MaxMessageSize)
	}
	if got, want := c.Path(c.DKIM.Keys[0].KeyFile), filepath.Join(filepath.Dir(path), "dkim/example.com.s2026.key"); got != want {
		t.Errorf("relative path: %q, want %q", got, want)
	}
	if len(c.DKIM.Keys) != 1 {
		t.Errorf("a file's dkim keys must replace, not extend, the defaults: %d keys", len(c.DKIM.Keys))
	}
}

func TestLoadReportsEveryProblemWithLine(t *testing.T) {
	path := writeConfig(t, `hostname: "not a host"
smtp:
  listeners:
    - address: 127.0.0.1
      tls: sometimes
  relay_networks: [10.0.0.0/33]
  max_recipients: many
  users:
    - name: bob
      password_hash: hunter2
delivery:
  tls_policy: strict
  routes:
    example.org: nohost
queue:
  max_lifetime: forever
`)
	_, err := Load(path)
	if err == nil {
		t.Fatal("invalid config loaded")
	}
	msg := err.Error()
	for _, want := range []string{
		":1: hostname:",
		":4: smtp.listeners[0].address:",
		":5: smtp.listeners[0].tls: \"sometimes\" is not one of starttls | implicit | none",
		":6: smtp.relay_networks[0]:",
		":7: wrong type",
		":10: smtp.users[0].password_hash: must be a bcrypt hash",
		":12: delivery.tls_policy:",
		":14: delivery.routes.example.org:",
		":16: invalid duration \"forever\"",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestLoadSyntaxErrorHasLine(t *testing.T) {
	path := writeConfig(t, "hostname: gw.example.com\nsmtp:\n  listeners: [\n")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "YAML syntax") || !strings.Contains(err.Error(), "sealgate.yaml:") {
		t.Fatalf("want syntax error with location, got %v", err)
	}
}

func TestEmptyFileMeansDefaults(t *testing.T) {
	c, err := Load(writeConfig(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTP.Listeners[0].Address != "127.0.0.1:2525" {
		t.Errorf("listener %q", c.SMTP.Listeners[0].Address)
	}
}

func TestParseSizesAndDurations(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "512KiB": 512 << 10, "50MiB": 50 << 20, "25MB": 25 << 20, "1GiB": 1 << 30} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "ten", "5XB", "99999999999GiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", bad)
		}
	}
	if d, err := ParseDuration("5d"); err != nil || d != 120*time.Hour {
		t.Errorf("5d = %v %v", d, err)
	}
	for _, bad := range []string{"-5m", "xd", "5 days"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

// The reference configuration documents every key; it must load cleanly, and
// every key of the schema must appear in it (docs that drift are bugs).
func TestReferenceConfigIsValidAndComplete(t *testing.T) {
	c, err := Load("../packaging/sealgate.yaml")
	if err != nil {
		t.Fatalf("packaging/sealgate.yaml: %v", err)
	}
	if c.Hostname != "gw.example.com" {
		t.Errorf("hostname %q", c.Hostname)
	}
	ref, _ := os.ReadFile("../packaging/sealgate.yaml")
	for _, key := range yamlKeys(reflect.TypeOf(Config{})) {
		if !strings.Contains(string(ref), key+":") {
			t.Errorf("key %q is not documented in packaging/sealgate.yaml", key)
		}
	}
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		keys = append(keys, name)
		ft := f.Type
		for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			keys = append(keys, yamlKeys(ft)...)
		}
	}
	return keys
}
