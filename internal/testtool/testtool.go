// Package testtool holds helpers shared by tests that drive real programs
// (swaks, openssl, gpg, dkimverify, promtool, postfix, chromium).
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the test runs under CI (CI=true), where a missing
// tool is a failure rather than a reason to skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require returns the path of the named program. When it is missing the
// test is skipped locally but fails under CI, so a green CI run always means
// the real peer was exercised.
func Require(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/usr/lib/postfix/sbin", "/usr/local/sbin"} {
		if p := dir + "/" + name; isExecutable(p) {
			return p
		}
	}
	if InCI() {
		t.Fatalf("required tool %q is not installed (CI=true): .ci/run must install it", name)
	}
	t.Skipf("tool %q not installed; skipping (this fails under CI=true)", name)
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
