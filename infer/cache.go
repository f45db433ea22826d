package infer

import (
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Cache keeps loaded model versions by key (the version's immutable
// identity), bounded by the bytes of their model files. A version that a
// route serves is pinned and never evicted; unpinned versions stay loaded,
// least recently used first out, while they fit the budget, so that an alias
// moved back to a recent version swaps without a reload.
//
// The cache holds one reference on each model it keeps; eviction releases
// it, and the model is destroyed once its in-flight requests finish. Cache
// is safe for concurrent use.
type Cache struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[string, *Model]
	maxBytes int64
	bytes    int64
	pins     map[string]int
}

// NewCache returns a cache that keeps unpinned versions while the total size
// of cached model files stays within maxBytes. maxBytes 0 keeps only pinned
// versions.
func NewCache(maxBytes int64) *Cache {
	c := &Cache{maxBytes: maxBytes, pins: map[string]int{}}
	// The entry count is not the bound (bytes are); simplelru needs one.
	c.lru, _ = simplelru.NewLRU[string, *Model](1<<20, func(_ string, m *Model) {
		c.bytes -= m.Bytes()
		m.Release()
	})
	return c
}

// Get returns the model cached under key with a reference taken for the
// caller, who must Release it.
func (c *Cache) Get(key string) (*Model, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.lru.Get(key)
	if !ok || !m.Acquire() {
		return nil, false
	}
	return m, true
}

// Add caches m under key, taking the cache's own reference (the caller keeps
// its own), then evicts unpinned versions beyond the budget. If key is
// already cached, the cached model stays and m is not taken.
func (c *Cache) Add(key string, m *Model) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru.Contains(key) || !m.Acquire() {
		return
	}
	c.lru.Add(key, m)
	c.bytes += m.Bytes()
	c.evict()
}

// Pin marks key as serving; pins nest.
func (c *Cache) Pin(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pins[key]++
}

// Unpin undoes one Pin and evicts beyond the budget.
func (c *Cache) Unpin(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pins[key]--; c.pins[key] <= 0 {
		delete(c.pins, key)
	}
	c.evict()
}

// evict drops least recently used unpinned versions until the cache fits.
// Pinned versions may keep it over budget. Called with c.mu held.
func (c *Cache) evict() {
	for c.bytes > c.maxBytes {
		victim := ""
		for _, k := range c.lru.Keys() { // oldest first
			if c.pins[k] == 0 {
				victim = k
				break
			}
		}
		if victim == "" {
			return
		}
		c.lru.Remove(victim)
	}
}

// CacheStats describes the cache's contents.
type CacheStats struct {
	Versions int   `json:"versions"` // loaded versions cached
	Pinned   int   `json:"pinned"`   // of which serving a route
	Bytes    int64 `json:"bytes"`    // size of their model files
}

// Stats returns the cache's counts.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Versions: c.lru.Len(), Pinned: len(c.pins), Bytes: c.bytes}
}

// Close releases every cached version.
func (c *Cache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Purge()
	clear(c.pins)
}
