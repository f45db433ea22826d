package main

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// residentBytes returns the process's resident set size, from
// /proc/self/statm; 0 where that cannot be read.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// memUse is what one loaded version costs: the size of its model files and,
// when its load ran alone, how much the process's resident memory grew
// while ONNX Runtime loaded and warmed it.
type memUse struct {
	FileBytes int64 `json:"file_bytes"`
	// RSSDelta is the resident growth over the load; 0 with Measured
	// false when another load overlapped it (the growth is not its own).
	RSSDelta int64 `json:"rss_delta_bytes"`
	Measured bool  `json:"measured"`
}

// ledger accounts the memory of loaded versions: each is accounted at its
// measured resident growth (at least its files), or, when its load was not
// measured, at its files plus the median per-load overhead of the measured
// ones.
type ledger struct {
	// loading counts loads in flight; started counts every load begun,
	// so that a load knows whether another ran beside it.
	loading, started atomic.Int64
	// setUp is set once a load has paid ONNX Runtime's one-time set-up
	// (thread pools, allocators: about 11 MB here), which the first
	// session's growth includes and which is not that version's.
	setUp atomic.Bool

	mu   sync.Mutex
	uses map[string]memUse // by loaded-model cache key
}

// begin starts measuring a load; the returned function ends it.
func (l *ledger) begin() func() memUse {
	n := l.loading.Add(1)
	gen := l.started.Add(1)
	before := residentBytes()
	return func() memUse {
		after := residentBytes()
		alone := n == 1 && l.started.Load() == gen && before > 0
		first := !l.setUp.Swap(true)
		l.loading.Add(-1)
		if !alone || first {
			return memUse{}
		}
		return memUse{RSSDelta: max(after-before, 0), Measured: true}
	}
}

// record keeps the use of the version loaded under key.
func (l *ledger) record(key string, u memUse) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.uses == nil {
		l.uses = map[string]memUse{}
	}
	l.uses[key] = u
}

// use returns what key was recorded with, and whether it was.
func (l *ledger) use(key string) (memUse, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u, ok := l.uses[key]
	return u, ok
}

// accounted is what the version under key, whose files take fileBytes,
// counts against the budget.
func (l *ledger) accounted(key string, fileBytes int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u, ok := l.uses[key]; ok && u.Measured {
		return max(u.RSSDelta, u.FileBytes)
	}
	return fileBytes + l.overheadLocked()
}

// estimate is what a version whose files take fileBytes is expected to
// count once loaded.
func (l *ledger) estimate(fileBytes int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fileBytes + l.overheadLocked()
}

// overheadLocked is the median of the measured loads' resident growth
// beyond their files. Called with l.mu held.
func (l *ledger) overheadLocked() int64 {
	var over []int64
	for _, u := range l.uses {
		if u.Measured {
			over = append(over, max(u.RSSDelta-u.FileBytes, 0))
		}
	}
	if len(over) == 0 {
		return 0
	}
	slices.Sort(over)
	return over[len(over)/2]
}

// forget drops the keys keep says no.
func (l *ledger) forget(keep func(key string) bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.uses {
		if !keep(k) {
			delete(l.uses, k)
		}
	}
}
