//go:build !unix

package resolver

import "os"

// tempDir is a Cache's own download directory under <root>/.tmp. Without
// flock(2) a directory cannot be told to be abandoned, so leftovers are
// kept.
type tempDir struct{ path string }

func claimTempDir(parent string) (*tempDir, error) {
	p, err := os.MkdirTemp(parent, "proc-")
	if err != nil {
		return nil, err
	}
	return &tempDir{path: p}, nil
}

func (d *tempDir) release() error { return os.RemoveAll(d.path) }

func removeIfUnlocked(string) (bool, error) { return false, nil }
