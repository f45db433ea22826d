package resolver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// savedResolution is the JSON stored under <root>/refs/ for one URI.
type savedResolution struct {
	URI        string      `json:"uri"`
	SavedAt    time.Time   `json:"saved_at"`
	Resolution *Resolution `json:"resolution"`
}

func (c *Cache) refPath(u URI) string {
	sum := sha256.Sum256([]byte(u.String()))
	return filepath.Join(c.root, refsDirName, hex.EncodeToString(sum[:12])+".json")
}

// SaveResolution records res as the last successful resolution of u, so a
// process that starts while the registry is down can serve from the cache.
// The file is replaced atomically.
func (c *Cache) SaveResolution(u URI, res *Resolution) error {
	data, err := json.MarshalIndent(savedResolution{URI: u.String(), SavedAt: time.Now().UTC(), Resolution: res}, "", "  ")
	if err != nil {
		return fmt.Errorf("save resolution of %s: %w", u, withKind(ErrInvalid, err))
	}
	dst := c.refPath(u)
	f, err := os.CreateTemp(filepath.Dir(dst), ".ref-*")
	if err != nil {
		return fmt.Errorf("save resolution of %s: %w", u, withKind(ErrUnavailable, err))
	}
	tmp := f.Name()
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save resolution of %s: %w", u, withKind(ErrUnavailable, err))
	}
	return nil
}

// LoadResolution returns the last resolution saved for u. It is ErrNotFound
// when none was saved.
func (c *Cache) LoadResolution(u URI) (*Resolution, error) {
	data, err := os.ReadFile(c.refPath(u))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no saved resolution of %s in %s: %w", u, c.root, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load resolution of %s: %w", u, withKind(ErrUnavailable, err))
	}
	var saved savedResolution
	if err := json.Unmarshal(data, &saved); err != nil || saved.Resolution == nil {
		if err == nil {
			err = errors.New("no resolution in file")
		}
		return nil, fmt.Errorf("load resolution of %s from %s: %w", u, c.refPath(u), withKind(ErrInvalid, err))
	}
	if saved.URI != u.String() {
		return nil, fmt.Errorf("no saved resolution of %s in %s: %w", u, c.root, ErrNotFound)
	}
	return saved.Resolution, nil
}
