// Package safefile writes files so that a crash at any moment leaves either
// the old state or the complete new file, never a torn one: write a temporary
// file in the same folder, fsync it, link or rename it into place, fsync the
// folder (the chasquid way).
package safefile

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteNew creates path with data and perm, failing if path already exists.
// Keys and certificates use it: overwriting one by accident would be worse
// than failing.
func WriteNew(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, false)
}

// Replace writes path with data and perm, atomically replacing any old file.
func Replace(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, true)
}

func write(path string, data []byte, perm os.FileMode, replace bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		// link(2) fails if path exists, so two writers cannot both win.
		err = os.Link(tmp.Name(), path)
		if os.IsExist(err) {
			return fmt.Errorf("%s exists; refusing to overwrite it", path)
		}
	}
	if err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a folder so that entries created in it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
