package resolver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"time"

	"golang.org/x/sync/singleflight"
)

// Cache layout under the root directory.
const (
	tmpDirName  = ".tmp"
	refsDirName = "refs"
	// staleTempAge is how old a leftover download directory (from a crash)
	// must be before OpenCache removes it.
	staleTempAge = 24 * time.Hour
	// Limits on one version's artifact tree.
	maxArtifactFiles = 10000
	maxArtifactDepth = 32
)

// Cache is the on-disk artifact cache. A version's artifacts never change,
// so each is stored once under <root>/<sanitized-name>/<version>-<hash>/,
// where hash is derived from Resolution.Key. An entry directory exists only
// when it is complete: downloads go to <root>/.tmp/ and are renamed into
// place. Cache is safe for concurrent use, also by several processes
// sharing the root.
type Cache struct {
	root  string
	log   *slog.Logger
	group singleflight.Group
}

// OpenCache creates the cache directories under root and removes leftover
// download directories older than a day. A nil logger logs nothing.
func OpenCache(root string, logger *slog.Logger) (*Cache, error) {
	if root == "" {
		return nil, fmt.Errorf("artifact cache: empty directory: %w", ErrInvalid)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("artifact cache %s: %w", root, withKind(ErrInvalid, err))
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Cache{root: abs, log: logger}
	for _, d := range []string{c.tmpDir(), filepath.Join(abs, refsDirName)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("artifact cache %s: %w", abs, withKind(ErrInvalid, err))
		}
	}
	c.removeStaleTemps(time.Now().Add(-staleTempAge))
	return c, nil
}

// Root returns the cache's root directory.
func (c *Cache) Root() string { return c.root }

func (c *Cache) tmpDir() string { return filepath.Join(c.root, tmpDirName) }

func (c *Cache) removeStaleTemps(before time.Time) {
	entries, err := os.ReadDir(c.tmpDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || info.ModTime().After(before) {
			continue
		}
		p := filepath.Join(c.tmpDir(), e.Name())
		if err := os.RemoveAll(p); err != nil {
			c.log.Warn("cannot remove leftover artifact download", "dir", p, "err", err)
		}
	}
}

// Dir returns the directory a resolution's artifacts are cached in, whether
// or not it exists yet.
func (c *Cache) Dir(res *Resolution) string {
	name, version := res.Name, res.Version
	if name == "" {
		name, version = res.ModelID, "logged"
	}
	sum := sha256.Sum256([]byte(res.Key()))
	return filepath.Join(c.root, sanitizeName(name), sanitizeName(version)+"-"+hex.EncodeToString(sum[:8]))
}

// Lookup returns the cached directory of a resolution if it is complete.
// It makes no network calls.
func (c *Cache) Lookup(res *Resolution) (string, bool) {
	dir := c.Dir(res)
	return dir, isDir(dir)
}

// Fetch returns the directory holding the whole artifact directory of res,
// downloading it from store unless a complete entry exists. Concurrent
// fetches of one key in this process share one download, which runs under
// the context of the first caller. Each file is checked against the size the
// listing reports; on any failure nothing is left in the cache.
func (c *Cache) Fetch(ctx context.Context, res *Resolution, store ArtifactStore) (string, error) {
	dir := c.Dir(res)
	if isDir(dir) {
		return dir, nil
	}
	for attempt := 0; ; attempt++ {
		_, err, shared := c.group.Do(res.Key(), func() (any, error) {
			if isDir(dir) {
				return nil, nil
			}
			return nil, c.download(ctx, res, store, dir)
		})
		// A shared download cancelled by its first caller is retried for a
		// caller whose own context is still live.
		if err != nil && shared && attempt == 0 && ctx.Err() == nil && errors.Is(err, context.Canceled) {
			continue
		}
		if err != nil {
			return "", err
		}
		return dir, nil
	}
}

func (c *Cache) download(ctx context.Context, res *Resolution, store ArtifactStore, dir string) (err error) {
	start := time.Now()
	tmp, err := os.MkdirTemp(c.tmpDir(), sanitizeName(filepath.Base(filepath.Dir(dir)))+"-"+filepath.Base(dir)+"-")
	if err != nil {
		return fmt.Errorf("artifact cache %s: %w", c.root, withKind(ErrUnavailable, err))
	}
	defer func() {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}()
	files, bytes, err := copyTree(ctx, store, tmp)
	if err != nil {
		return fmt.Errorf("fetch %s from %s: %w", res, store, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("artifact cache %s: %w", c.root, withKind(ErrUnavailable, err))
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("artifact cache %s: %w", c.root, withKind(ErrUnavailable, err))
	}
	if err := os.Rename(tmp, dir); err != nil {
		if isDir(dir) {
			return nil // another process finished the same entry first
		}
		return fmt.Errorf("artifact cache %s: %w", c.root, withKind(ErrUnavailable, err))
	}
	tmp = ""
	syncDir(filepath.Dir(dir))
	c.log.Info("model artifacts downloaded", "model", res.String(), "from", store.String(),
		"dir", dir, "files", files, "bytes", bytes, "duration", time.Since(start))
	return nil
}

// copyTree downloads every file under the store root into dst, recursing
// into directories, and checks each file against its listed size.
func copyTree(ctx context.Context, store ArtifactStore, dst string) (files int, bytes int64, err error) {
	root, err := os.OpenRoot(dst)
	if err != nil {
		return 0, 0, withKind(ErrUnavailable, err)
	}
	defer root.Close()
	type item struct {
		dir   string
		depth int
	}
	queue := []item{{dir: ""}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		entries, err := store.List(ctx, it.dir)
		if err != nil {
			return files, bytes, err
		}
		for _, e := range entries {
			if err := checkListed(store, it.dir, e.Path); err != nil {
				return files, bytes, err
			}
			local := filepath.FromSlash(e.Path)
			if e.IsDir {
				if it.depth+1 > maxArtifactDepth {
					return files, bytes, fmt.Errorf("artifact tree deeper than %d directories at %q: %w", maxArtifactDepth, e.Path, ErrInvalid)
				}
				if err := root.Mkdir(local, 0o755); err != nil {
					return files, bytes, fmt.Errorf("create %q: %w", e.Path, withKind(ErrInvalid, err))
				}
				queue = append(queue, item{dir: e.Path, depth: it.depth + 1})
				continue
			}
			if files++; files > maxArtifactFiles {
				return files, bytes, fmt.Errorf("artifact directory has more than %d files: %w", maxArtifactFiles, ErrInvalid)
			}
			n, err := downloadFile(ctx, store, root, e)
			bytes += n
			if err != nil {
				return files, bytes, err
			}
		}
	}
	if files == 0 {
		return 0, 0, fmt.Errorf("artifact directory is empty or does not exist: %w", ErrNotFound)
	}
	return files, bytes, nil
}

// checkListed verifies that a listed path is a direct child of the listed
// directory with a plain name, so a store cannot write outside the entry.
func checkListed(store ArtifactStore, dir, p string) error {
	base := path.Base(p)
	if err := checkEntryName(store.String(), dir, base); err != nil {
		return err
	}
	if joinRel(dir, base) != p {
		return fmt.Errorf("artifact store %s: listing of %q returned %q, not a direct child: %w", store, dir, p, ErrInvalid)
	}
	return nil
}

func downloadFile(ctx context.Context, store ArtifactStore, root *os.Root, e FileInfo) (int64, error) {
	// O_EXCL: a listing that names one file twice is refused rather than
	// silently overwritten.
	f, err := root.OpenFile(filepath.FromSlash(e.Path), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, fmt.Errorf("create %q: %w", e.Path, withKind(ErrInvalid, err))
	}
	n, err := store.Download(ctx, e.Path, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	if e.Size >= 0 && n != e.Size {
		return n, fmt.Errorf("artifact %s: got %d bytes; the listing says %d: %w", e.Path, n, e.Size, ErrUnavailable)
	}
	return n, nil
}

// sanitizeName maps a model name or version to one safe path element:
// characters outside [A-Za-z0-9._-] become "_", a leading dot and the names
// of the cache's own directories are prefixed with "_", and long names are
// cut (the hash in the entry name keeps entries distinct).
func sanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	out := string(b)
	if len(out) > 80 {
		out = out[:80]
	}
	if out == "" || out[0] == '.' || out == refsDirName {
		out = "_" + out
	}
	return out
}

func isDir(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
}

// syncDir flushes a directory's entries so a rename survives a crash. It is
// best effort: some file systems do not support syncing directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
