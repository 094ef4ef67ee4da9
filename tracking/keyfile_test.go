package tracking

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tracking.key")
	k, err := GenerateKey(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(p, k); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", st.Mode().Perm())
	}
	if err := WriteKeyFile(p, k); err == nil {
		t.Error("existing key file overwritten")
	}
	got, err := ReadKeyFile(p)
	if err != nil || got.ID != 3 || !bytes.Equal(got.Secret, k.Secret) {
		t.Fatalf("read back: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("# nothing\n\n"), 0o600)
	if _, err := ReadKeyFile(bad); err == nil {
		t.Error("empty key file accepted")
	}
	os.WriteFile(bad, []byte("1:c2VjcmV0LXRoYXQtaXMtd3Jvbmctc2l6ZQ\n"), 0o600)
	if _, err := ReadKeyFile(bad); err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("bad key: %v", err)
	}
}
