package testtool

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// GPGHome is a throw-away GnuPG home for tests that make, export and
// decrypt with the real gpg.
type GPGHome struct {
	Bin string // the gpg binary
	Dir string // GNUPGHOME
}

// NewGPGHome makes a GnuPG home that is removed, with its agent stopped,
// when the test ends. It requires gpg (skip locally, fail under CI).
func NewGPGHome(t testing.TB) *GPGHome {
	t.Helper()
	bin := Require(t, "gpg")
	// gpg-agent's socket path is limited to about 100 bytes: keep it short.
	dir, err := os.MkdirTemp("", "sg-gpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	g := &GPGHome{Bin: bin, Dir: dir}
	t.Cleanup(func() {
		if conf, err := exec.LookPath("gpgconf"); err == nil {
			c := exec.Command(conf, "--kill", "gpg-agent")
			c.Env = g.Env()
			_ = c.Run()
		}
		os.RemoveAll(dir)
	})
	return g
}

// Env is the environment with GNUPGHOME set to this home.
func (g *GPGHome) Env() []string { return append(os.Environ(), "GNUPGHOME="+g.Dir) }

// Run runs gpg in batch mode with an empty passphrase and returns its
// standard output; a failure fails the test with gpg's error output.
func (g *GPGHome) Run(t testing.TB, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(g.Bin, append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	cmd.Env = g.Env()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gpg %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}
