package resolver

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// DefaultCacheMaxBytes is the disk budget of the artifact cache: 10 GiB.
const DefaultCacheMaxBytes = 10 << 30

// cacheEntry is one complete version directory of the cache.
type cacheEntry struct {
	dir   string
	bytes int64
	used  time.Time // when it was last fetched or found by Fetch
}

// touch records that dir was just used, so that pruning keeps it longest.
func touch(dir string) {
	now := time.Now()
	os.Chtimes(dir, now, now)
}

// prune removes least recently used version directories until the cache
// fits MaxBytes. It never removes keep, nor a version that a saved
// resolution names (the last good version of some URI, what an offline
// start serves, in this process or another sharing the root). When those
// alone exceed the budget, the cache stays over it and says so.
func (c *Cache) prune(keep string) {
	if c.cfg.MaxBytes < 0 {
		return
	}
	entries, total := c.entries()
	if total <= c.cfg.MaxBytes {
		return
	}
	held := c.savedDirs()
	held[keep] = true
	sort.Slice(entries, func(i, j int) bool { return entries[i].used.Before(entries[j].used) })
	for _, e := range entries {
		if total <= c.cfg.MaxBytes {
			return
		}
		if held[e.dir] {
			continue
		}
		// Rename first, so no reader sees a half-removed version: a
		// directory in the cache is complete or absent.
		gone := filepath.Join(c.temp.path, "pruned-"+filepath.Base(e.dir))
		if err := os.Rename(e.dir, gone); err != nil {
			c.log.Warn("cannot prune a cached version", "dir", e.dir, "err", err)
			continue
		}
		os.RemoveAll(gone)
		total -= e.bytes
		c.log.Info("pruned a cached version to stay within cache-max-bytes", "dir", e.dir, "bytes", e.bytes,
			"cache_bytes", total, "cache_max_bytes", c.cfg.MaxBytes)
	}
	if total > c.cfg.MaxBytes {
		c.log.Warn("the versions the cache must keep exceed cache-max-bytes", "cache_bytes", total, "cache_max_bytes", c.cfg.MaxBytes)
	}
}

// entries lists the complete version directories (<root>/<name>/<entry>)
// with their sizes, and their total.
func (c *Cache) entries() ([]cacheEntry, int64) {
	var out []cacheEntry
	var total int64
	models, err := os.ReadDir(c.root)
	if err != nil {
		return nil, 0
	}
	for _, m := range models {
		if !m.IsDir() || m.Name() == tmpDirName || m.Name() == refsDirName {
			continue
		}
		versions, err := os.ReadDir(filepath.Join(c.root, m.Name()))
		if err != nil {
			continue
		}
		for _, v := range versions {
			if !v.IsDir() {
				continue
			}
			dir := filepath.Join(c.root, m.Name(), v.Name())
			info, err := v.Info()
			if err != nil {
				continue
			}
			n := treeBytes(dir)
			out = append(out, cacheEntry{dir: dir, bytes: n, used: info.ModTime()})
			total += n
		}
	}
	return out, total
}

// savedDirs returns the directories of the versions the saved resolutions
// name.
func (c *Cache) savedDirs() map[string]bool {
	held := map[string]bool{}
	refs, err := os.ReadDir(filepath.Join(c.root, refsDirName))
	if err != nil {
		return held
	}
	for _, r := range refs {
		data, err := os.ReadFile(filepath.Join(c.root, refsDirName, r.Name()))
		if err != nil {
			continue
		}
		var saved savedResolution
		if json.Unmarshal(data, &saved) == nil && saved.Resolution != nil {
			held[c.Dir(saved.Resolution)] = true
		}
	}
	return held
}

// treeBytes is the size of the regular files under dir.
func treeBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
