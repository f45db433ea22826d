//go:build unix

package resolver

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// tempDir is a Cache's own download directory under <root>/.tmp, held
// with an exclusive flock(2) on the directory itself for as long as the
// Cache is open. The kernel releases the lock when the process exits,
// however it exits, so an unlocked directory belongs to nobody.
type tempDir struct {
	path string
	lock *os.File
}

// claimTempDir creates and locks a new directory under parent. Another
// process may lock a directory between its creation and our lock (and
// remove it, taking it for abandoned): the directory is then checked to be
// still in place after locking, and another one is made if not.
func claimTempDir(parent string) (*tempDir, error) {
	var lastErr error
	for range 8 {
		p, err := os.MkdirTemp(parent, "proc-")
		if err != nil {
			return nil, err
		}
		f, err := os.Open(p)
		if err != nil {
			lastErr = err
			continue
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			lastErr = err
			continue
		}
		held, err1 := f.Stat()
		named, err2 := os.Stat(p)
		if err1 != nil || err2 != nil || !os.SameFile(held, named) {
			f.Close()
			lastErr = fmt.Errorf("download directory %s was removed while it was being locked", p)
			continue
		}
		return &tempDir{path: p, lock: f}, nil
	}
	return nil, fmt.Errorf("cannot claim a download directory under %s: %w", parent, lastErr)
}

// release removes the directory, then drops the lock.
func (d *tempDir) release() error {
	err := os.RemoveAll(d.path)
	return errors.Join(err, d.lock.Close())
}

// removeIfUnlocked removes p unless a live Cache holds it locked. It
// reports whether it removed p.
func removeIfUnlocked(p string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil // a live process's download directory
		}
		return false, err
	}
	// Locked by us now: no live Cache owns it, and none can claim it,
	// since claiming checks that the directory is still in place.
	return true, os.RemoveAll(p)
}
