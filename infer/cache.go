package infer

import (
	"context"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Cache keeps loaded model versions by key (the version's immutable
// identity, with the settings it was loaded with), bounded by the bytes of
// their model files, and loads each key once however many callers want it
// at the same time.
//
// The versions the live serving state holds (Hold) are never evicted.
// Others stay loaded, least recently held first out, while they fit the
// budget, so that an alias moved back to a recent version swaps without a
// reload. Eviction happens only when the held set changes.
//
// The cache holds one reference on each model it keeps; eviction releases
// it, and the model is destroyed once its other holders let go. Cache is
// safe for concurrent use.
type Cache struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[string, *Model]
	maxBytes int64
	bytes    int64
	held     map[string]bool
	loading  map[string]*flight
}

// flight is one load in progress; waiters joined it and get a reference
// each when it succeeds.
type flight struct {
	done    chan struct{}
	m       *Model
	err     error
	waiters int
}

// NewCache returns a cache that keeps versions no serving state holds while
// the total size of cached model files stays within maxBytes. maxBytes 0
// keeps only held versions.
func NewCache(maxBytes int64) *Cache {
	c := &Cache{maxBytes: maxBytes, held: map[string]bool{}, loading: map[string]*flight{}}
	// The entry count is not the bound (bytes are); simplelru needs one.
	c.lru, _ = simplelru.NewLRU[string, *Model](1<<20, func(_ string, m *Model) {
		c.bytes -= m.Bytes()
		m.Release()
	})
	return c
}

// Load returns the version cached under key with a reference for the
// caller, who must Release it. When key is not cached, load runs once for
// every concurrent caller of key; a version it returns is cached, not
// held, and fresh is true for the one caller whose call ran load (so that
// it may Discard the version if what it was loaded for is given up).
func (c *Cache) Load(ctx context.Context, key string, load func(context.Context) (*Model, error)) (m *Model, fresh bool, err error) {
	c.mu.Lock()
	if m, ok := c.lru.Get(key); ok && m.Acquire() {
		c.mu.Unlock()
		return m, false, nil
	}
	if f := c.loading[key]; f != nil {
		f.waiters++
		c.mu.Unlock()
		<-f.done
		return f.m, false, f.err
	}
	f := &flight{done: make(chan struct{})}
	c.loading[key] = f
	c.mu.Unlock()

	m, err = load(ctx)
	c.mu.Lock()
	delete(c.loading, key)
	if err == nil {
		c.add(key, m)
		for range f.waiters { // the caller's reference keeps m alive meanwhile
			m.Acquire()
		}
		f.m = m
	}
	f.err = err
	c.mu.Unlock()
	close(f.done)
	return m, err == nil, err
}

// add caches m under key with the cache's own reference, unless key is
// already cached. Called with c.mu held.
func (c *Cache) add(key string, m *Model) {
	if c.lru.Contains(key) || !m.Acquire() {
		return
	}
	c.lru.Add(key, m)
	c.bytes += m.Bytes()
}

// Hold makes live the versions the serving state holds, by key: each is
// cached (the cache takes its own reference on one it does not have) and
// becomes the most recently held; every other version is no longer held,
// and the least recently held of them are evicted until the cache fits its
// budget.
func (c *Cache) Hold(live map[string]*Model) {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.held)
	for key, m := range live {
		c.held[key] = true
		if _, ok := c.lru.Get(key); !ok {
			c.add(key, m)
		}
	}
	c.evict()
}

// Discard evicts key unless it is held: a version loaded for a change that
// was then given up.
func (c *Cache) Discard(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held[key] {
		c.lru.Remove(key)
	}
}

// evict drops the least recently held versions until the cache fits. Held
// versions may keep it over budget. Called with c.mu held.
func (c *Cache) evict() {
	for c.bytes > c.maxBytes {
		victim := ""
		for _, k := range c.lru.Keys() { // oldest first
			if !c.held[k] {
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
	Held     int   `json:"pinned"`   // of which held by the serving state
	Bytes    int64 `json:"bytes"`    // size of their model files
}

// Stats returns the cache's counts.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	held := 0
	for k := range c.held {
		if c.lru.Contains(k) {
			held++
		}
	}
	return CacheStats{Versions: c.lru.Len(), Held: held, Bytes: c.bytes}
}

// CachedVersion is one version in the cache: its key, the model, and
// whether the serving state holds it.
type CachedVersion struct {
	Key   string
	Model *Model
	Held  bool
}

// Versions lists the cached versions, least recently held first. The
// models are for reading only: the caller takes no reference.
func (c *Cache) Versions() []CachedVersion {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CachedVersion, 0, c.lru.Len())
	for _, k := range c.lru.Keys() {
		m, _ := c.lru.Peek(k)
		out = append(out, CachedVersion{Key: k, Model: m, Held: c.held[k]})
	}
	return out
}

// Close releases every cached version.
func (c *Cache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Purge()
	clear(c.held)
}
