package tracking

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ReadKeyFile reads a tracking key file: one "ID:SECRET" line (see
// FormatKey); blank lines and '#' comments are ignored. The error never
// contains the secret.
func ReadKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("tracking: key file: %w", err)
	}
	defer f.Close()
	return readKey(f, path)
}

func readKey(r io.Reader, name string) (Key, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := ParseKey(line)
		if err != nil {
			return Key{}, fmt.Errorf("%s: %w", name, err)
		}
		return k, nil
	}
	if err := sc.Err(); err != nil {
		return Key{}, fmt.Errorf("%s: %w", name, err)
	}
	return Key{}, fmt.Errorf("%s: no key in file", name)
}

// WriteKeyFile writes k to a new file readable by its owner only (0600);
// it refuses to overwrite an existing file. For first start and rotation.
func WriteKeyFile(path string, k Key) error {
	if len(k.Secret) != KeySize {
		return errors.New("tracking: key has the wrong size")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("tracking: key file: %w", err)
	}
	_, err = fmt.Fprintf(f, "# sealgate tracking key (id %d): keep secret\n%s\n", k.ID, FormatKey(k))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
