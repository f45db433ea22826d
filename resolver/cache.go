package resolver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Cache layout under the root directory.
const (
	tmpDirName  = ".tmp"
	refsDirName = "refs"
	// Limits on one version's artifact tree.
	maxArtifactFiles = 10000
	maxArtifactDepth = 32
)

// CacheConfig configures a Cache. The zero value of each field means the
// default its comment states.
type CacheConfig struct {
	// Root is the cache directory. Required.
	Root string
	// Logger receives download logs. Nil means no logging.
	Logger *slog.Logger
	// MaxModelBytes caps the bytes of one version's artifacts, as listed
	// and as received. Zero means DefaultMaxModelBytes.
	MaxModelBytes int64
	// DownloadTimeout bounds the download of one version's artifacts.
	// Zero means DefaultDownloadTimeout.
	DownloadTimeout time.Duration
	// MinDownloadRate abandons a download that brings fewer bytes than
	// this per second, averaged over each RateWindow. Zero means
	// DefaultMinDownloadRate; negative means no minimum.
	MinDownloadRate int64
	// RateWindow is the period the minimum rate is measured over. Zero
	// means DefaultRateWindow.
	RateWindow time.Duration
	// MaxBytes is the disk budget of the cached versions: after each
	// download the least recently used versions are removed until the
	// cache fits, except the last good version of every URI (the saved
	// resolutions) and the one just downloaded. Zero means
	// DefaultCacheMaxBytes; negative means no budget.
	MaxBytes int64
}

func (c CacheConfig) withDefaults() (CacheConfig, error) {
	switch {
	case c.Root == "":
		return c, fmt.Errorf("artifact cache: empty directory: %w", ErrInvalid)
	case c.MaxModelBytes < 0:
		return c, fmt.Errorf("artifact cache: MaxModelBytes %d is negative: %w", c.MaxModelBytes, ErrInvalid)
	case c.DownloadTimeout < 0:
		return c, fmt.Errorf("artifact cache: DownloadTimeout %v is negative: %w", c.DownloadTimeout, ErrInvalid)
	case c.RateWindow < 0:
		return c, fmt.Errorf("artifact cache: RateWindow %v is negative: %w", c.RateWindow, ErrInvalid)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxModelBytes == 0 {
		c.MaxModelBytes = DefaultMaxModelBytes
	}
	if c.DownloadTimeout == 0 {
		c.DownloadTimeout = DefaultDownloadTimeout
	}
	if c.MinDownloadRate == 0 {
		c.MinDownloadRate = DefaultMinDownloadRate
	}
	if c.RateWindow == 0 {
		c.RateWindow = DefaultRateWindow
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultCacheMaxBytes
	}
	return c, nil
}

// Cache is the on-disk artifact cache. A version's artifacts never change,
// so each is stored once under <root>/<sanitized-name>/<version>-<hash>/,
// where hash is derived from Resolution.Key. An entry directory exists only
// when it is complete: downloads go to this Cache's own directory under
// <root>/.tmp/ and are renamed into place. Cache is safe for concurrent
// use, also by several processes sharing the root. Close it when done.
type Cache struct {
	root  string
	cfg   CacheConfig
	log   *slog.Logger
	group singleflight.Group
	tick  ticker
	temp  *tempDir // this Cache's download directory, locked while open

	mu     sync.Mutex
	closed bool
	active sync.WaitGroup // downloads in progress
}

// OpenCache creates the cache directories under cfg.Root, removes the
// download directories that no open Cache holds (what a crashed or killed
// process left), and claims a locked download directory of its own. Each
// open Cache holds an flock(2) on its download directory until Close (the
// kernel drops it if the process dies), so a starting process never removes
// another live process's download in progress.
func OpenCache(cfg CacheConfig) (*Cache, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("artifact cache %s: %w", cfg.Root, withKind(ErrInvalid, err))
	}
	c := &Cache{root: abs, cfg: cfg, log: cfg.Logger, tick: realTicker}
	for _, d := range []string{c.tmpDir(), filepath.Join(abs, refsDirName)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("artifact cache %s: %w", abs, withKind(ErrInvalid, err))
		}
	}
	c.removeAbandonedTemps()
	if c.temp, err = claimTempDir(c.tmpDir()); err != nil {
		return nil, fmt.Errorf("artifact cache %s: %w", abs, withKind(ErrUnavailable, err))
	}
	return c, nil
}

// Close waits for the downloads in progress (their callers' contexts and
// the download deadline bound them), then removes this Cache's download
// directory and releases its lock. Fetch fails afterwards.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.active.Wait()
	return c.temp.release()
}

// Root returns the cache's root directory.
func (c *Cache) Root() string { return c.root }

func (c *Cache) tmpDir() string { return filepath.Join(c.root, tmpDirName) }

// removeAbandonedTemps removes every entry of <root>/.tmp that no live
// Cache holds locked.
func (c *Cache) removeAbandonedTemps() {
	entries, err := os.ReadDir(c.tmpDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(c.tmpDir(), e.Name())
		removed, err := removeIfUnlocked(p)
		if err != nil {
			c.log.Warn("cannot remove leftover artifact download", "dir", p, "err", err)
			continue
		}
		if removed {
			c.log.Info("removed an abandoned artifact download", "dir", p)
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
// the context of the first caller; every caller stops waiting when its own
// context ends. A download is bounded by the listed size of each file, by
// MaxModelBytes, by DownloadTimeout and by MinDownloadRate; on any failure
// nothing is left in the cache.
func (c *Cache) Fetch(ctx context.Context, res *Resolution, store ArtifactStore) (string, error) {
	dir := c.Dir(res)
	if isDir(dir) {
		touch(dir)
		return dir, nil
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("fetch %s: %w", res, err)
	}
	for attempt := 0; ; attempt++ {
		ch := c.group.DoChan(res.Key(), func() (any, error) {
			if isDir(dir) {
				return nil, nil
			}
			return nil, c.download(ctx, res, store, dir)
		})
		var r singleflight.Result
		select {
		case r = <-ch:
		case <-ctx.Done():
			return "", fmt.Errorf("fetch %s: %w", res, ctx.Err())
		}
		// A shared download cancelled by its first caller is retried for a
		// caller whose own context is still live.
		if r.Err != nil && r.Shared && attempt == 0 && ctx.Err() == nil && errors.Is(r.Err, context.Canceled) {
			continue
		}
		if r.Err != nil {
			return "", r.Err
		}
		return dir, nil
	}
}

func (c *Cache) download(ctx context.Context, res *Resolution, store ArtifactStore, dir string) (err error) {
	start := time.Now()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("artifact cache %s: closed: %w", c.root, ErrInvalid)
	}
	c.active.Add(1)
	c.mu.Unlock()
	defer c.active.Done()
	tmp, err := os.MkdirTemp(c.temp.path, sanitizeName(filepath.Base(filepath.Dir(dir)))+"-"+filepath.Base(dir)+"-")
	if err != nil {
		return fmt.Errorf("artifact cache %s: %w", c.root, withKind(ErrUnavailable, err))
	}
	defer func() {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}()
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	dctx, cancelTimeout := context.WithTimeoutCause(dctx, c.cfg.DownloadTimeout,
		withKind(ErrUnavailable, fmt.Errorf("not finished within %v (download-timeout): %w", c.cfg.DownloadTimeout, errDownloadTimeout)))
	defer cancelTimeout()
	var progress atomic.Int64
	stop := watchRate(cancel, &progress, c.cfg.MinDownloadRate, c.cfg.RateWindow, c.tick)
	files, bytes, err := copyTree(dctx, store, tmp, c.cfg.MaxModelBytes, &progress)
	stop()
	if err != nil {
		if cause := context.Cause(dctx); ctx.Err() == nil && (errors.Is(cause, errTooSlow) || errors.Is(cause, errDownloadTimeout)) {
			err = cause
		}
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
	touch(dir)
	c.log.Info("model artifacts downloaded", "model", res.String(), "from", store.String(),
		"dir", dir, "files", files, "bytes", bytes, "duration", time.Since(start))
	c.prune(dir)
	return nil
}

// ReadOne returns one file of store, bounded like a download: by its size
// limit (fileLimit, else MaxModelBytes), DownloadTimeout and
// MinDownloadRate.
func (c *Cache) ReadOne(ctx context.Context, store ArtifactStore, name string) ([]byte, error) {
	limit, why := fileLimit(name)
	if limit == 0 {
		limit, why = c.cfg.MaxModelBytes, "max-model-bytes"
	}
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	dctx, cancelTimeout := context.WithTimeoutCause(dctx, c.cfg.DownloadTimeout,
		withKind(ErrUnavailable, fmt.Errorf("not finished within %v (download-timeout): %w", c.cfg.DownloadTimeout, errDownloadTimeout)))
	defer cancelTimeout()
	var progress atomic.Int64
	stop := watchRate(cancel, &progress, c.cfg.MinDownloadRate, c.cfg.RateWindow, c.tick)
	var buf bytes.Buffer
	_, err := store.Download(dctx, name, &boundedWriter{w: &buf, file: name, limit: limit, why: why, progress: &progress})
	stop()
	if err != nil {
		if cause := context.Cause(dctx); ctx.Err() == nil && (errors.Is(cause, errTooSlow) || errors.Is(cause, errDownloadTimeout)) {
			err = cause
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

// readCached reads one file of a cached entry, bounded as ReadOne is.
func (c *Cache) readCached(dir, name string) ([]byte, error) {
	limit, why := fileLimit(name)
	if limit == 0 {
		limit, why = c.cfg.MaxModelBytes, "max-model-bytes"
	}
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, name, limit, why)
}

// copyTree downloads every file under the store root into dst, recursing
// into directories. Each file may hold at most its listed size, its own
// limit (fileLimit) and what is left of maxBytes; progress counts the bytes
// written.
func copyTree(ctx context.Context, store ArtifactStore, dst string, maxBytes int64, progress *atomic.Int64) (files int, bytes int64, err error) {
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
			w, err := fileBounds(e, maxBytes-bytes, maxBytes)
			if err != nil {
				return files, bytes, err
			}
			w.progress = progress
			n, err := downloadFile(ctx, store, root, e, w)
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

// fileBounds returns the writer limits for a listed file, given the bytes
// left of the version's budget, or refuses the file before any byte is
// downloaded when its listed size is over a limit.
func fileBounds(e FileInfo, left, maxBytes int64) (*boundedWriter, error) {
	w := &boundedWriter{file: e.Path, limit: left, why: fmt.Sprintf("max-model-bytes (%d for a version)", maxBytes)}
	if own, why := fileLimit(e.Path); own > 0 && own < w.limit {
		w.limit, w.why = own, why
	}
	switch {
	case e.Size > w.limit:
		return nil, fmt.Errorf("artifact %s: listed as %d bytes, over %s of %d bytes: %w", e.Path, e.Size, w.why, w.limit, ErrInvalid)
	case e.Size >= 0:
		w.limit, w.why = e.Size, "the listing's size"
	}
	return w, nil
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

func downloadFile(ctx context.Context, store ArtifactStore, root *os.Root, e FileInfo, w *boundedWriter) (int64, error) {
	// O_EXCL: a listing that names one file twice is refused rather than
	// silently overwritten.
	f, err := root.OpenFile(filepath.FromSlash(e.Path), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, fmt.Errorf("create %q: %w", e.Path, withKind(ErrInvalid, err))
	}
	w.w = f
	n, err := store.Download(ctx, e.Path, w)
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
