package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mlgate/mlgate/infer"
	"github.com/mlgate/mlgate/resolver"
	"github.com/mlgate/mlgate/serve"
	"github.com/mlgate/mlgate/signature"
	"github.com/mlgate/mlgate/telemetry"
)

// onDemandLoadTimeout bounds one on-demand load (resolve, download, load,
// warm-up) however long its first request waits.
const onDemandLoadTimeout = 5 * time.Minute

// demand loads registered models for registry routes when a request first
// addresses them, and keeps what is loaded within the memory budget: it
// implements serve.OnDemand. A model loaded on demand becomes an on-demand
// route of the fleet's lineup, published like any change, and its URI is
// followed like a configured route's; it is unloaded, least recently used
// first, when another needs room, and when it has not been requested for
// the idle time. A configured route's version is never unloaded for room.
type demand struct {
	f    *fleet
	w    *resolver.Watcher // set once the watcher exists, before serving
	cfg  infer.Config      // the global inference settings
	spec serve.RouteSpec   // the number rules every on-demand route takes
	log  *slog.Logger

	maxBytes  int64 // over everything loaded; 0: none
	maxModels int   // models loaded on demand; 0: none
	idle      time.Duration

	base   context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// trim asks run to hand freed memory back to the system, after an
	// unload (infer.TrimMemory).
	trim chan struct{}

	sf singleflight.Group
	// loadMu lets one on-demand load make room, load, publish and follow
	// at a time (see add), and keeps unloads for idleness out of it.
	loadMu sync.Mutex

	loads, failures, evictions, idleUnloads atomic.Int64
	// trims counts the C heap trims after unloads.
	trims atomic.Int64

	// coldMu guards cold, the durations of the last on-demand loads
	// (resolve, download, load, warm-up, publish), for /admin/models.
	coldMu sync.Mutex
	cold   []time.Duration

	// failed remembers, by route key, a load that failed and until when
	// its requests get the same answer without another attempt: a name
	// that is not registered, or a version that cannot load, costs the
	// registry one call per backoff, however many requests name it.
	failedMu sync.Mutex
	failed   map[string]failure
}

// failure is a failed on-demand load, answered until until.
type failure struct {
	err   error
	until time.Time
}

// Backoffs before a failed on-demand load is tried again.
const (
	notRegisteredBackoff = 5 * time.Second
	loadFailedBackoff    = 30 * time.Second
)

var _ serve.OnDemand = (*demand)(nil)

func newDemand(cfg Config, icfg infer.Config, log *slog.Logger) (*demand, error) {
	nf, err := signature.ParseNonFinite(cfg.JSONNonFinite)
	if err != nil {
		return nil, fmt.Errorf("json-non-finite: %w", err)
	}
	mv, err := signature.ParseMissingValues(cfg.MissingValues)
	if err != nil {
		return nil, fmt.Errorf("missing-values: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &demand{cfg: icfg, log: log, spec: serve.RouteSpec{NonFinite: nf, MissingValues: mv},
		maxBytes: cfg.MaxLoadedBytes, maxModels: cfg.MaxLoadedModels, idle: cfg.IdleUnload,
		base: ctx, cancel: cancel, done: make(chan struct{}), trim: make(chan struct{}, 1)}, nil
}

// Ensure loads ref unless it is loaded, sharing the load with concurrent
// callers, and waits for it while ctx lasts.
func (d *demand) Ensure(ctx context.Context, ref serve.ModelRef) error {
	u, err := resolver.ParseURI(ref.URI())
	if err != nil {
		return fmt.Errorf("%w: %w", serve.ErrNotRegistered, err)
	}
	if err := d.recentFailure(ref.Key()); err != nil {
		return err
	}
	ch := d.sf.DoChan(ref.Key(), func() (any, error) {
		start := time.Now()
		err := d.add(u, ref.Key())
		if err == nil {
			d.recordCold(time.Since(start))
		}
		d.remember(ref.Key(), err)
		return nil, err
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return fmt.Errorf("%w: resolving, downloading and loading it took longer than the cold-start timeout; it goes on loading", serve.ErrColdStart)
	}
}

// maxColdKept is how many load durations coldStarts summarises.
const maxColdKept = 1000

// recordCold keeps the duration of a successful on-demand load.
func (d *demand) recordCold(took time.Duration) {
	d.coldMu.Lock()
	defer d.coldMu.Unlock()
	if len(d.cold) == maxColdKept {
		d.cold = slices.Delete(d.cold, 0, 1)
	}
	d.cold = append(d.cold, took)
}

// coldStarts summarises the last on-demand loads' durations, in seconds.
func (d *demand) coldStarts() map[string]any {
	d.coldMu.Lock()
	ds := slices.Clone(d.cold)
	d.coldMu.Unlock()
	if len(ds) == 0 {
		return map[string]any{"count": 0}
	}
	slices.Sort(ds)
	at := func(q float64) float64 { return ds[min(int(q*float64(len(ds))), len(ds)-1)].Seconds() }
	return map[string]any{"count": len(ds), "p50_seconds": at(0.5), "p99_seconds": at(0.99), "max_seconds": ds[len(ds)-1].Seconds()}
}

// recentFailure returns the failure of key's last load while it is
// remembered.
func (d *demand) recentFailure(key string) error {
	d.failedMu.Lock()
	defer d.failedMu.Unlock()
	f, ok := d.failed[key]
	if !ok {
		return nil
	}
	if left := time.Until(f.until); left > 0 {
		return fmt.Errorf("%w (the last attempt failed; next attempt in %s)", f.err, left.Round(time.Second))
	}
	delete(d.failed, key)
	return nil
}

// remember records the outcome of key's load: a failure other than
// running out of room or time is answered again without a new attempt for
// a while.
func (d *demand) remember(key string, err error) {
	d.failedMu.Lock()
	defer d.failedMu.Unlock()
	backoff := loadFailedBackoff
	switch {
	case err == nil, errors.Is(err, serve.ErrNoRoom), errors.Is(err, serve.ErrColdStart), errors.Is(err, resolver.ErrUnavailable):
		delete(d.failed, key)
		return
	case errors.Is(err, serve.ErrNotRegistered):
		backoff = notRegisteredBackoff
	}
	if d.failed == nil {
		d.failed = map[string]failure{}
	}
	if len(d.failed) >= maxRemembered { // bounded: forget the lot rather than grow
		clear(d.failed)
	}
	d.failed[key] = failure{err: err, until: time.Now().Add(backoff)}
}

// remembered lists the failed loads answered without a new attempt now,
// with their errors, for /admin/models (responses do not carry them).
func (d *demand) remembered() []map[string]any {
	d.failedMu.Lock()
	defer d.failedMu.Unlock()
	now := time.Now()
	out := []map[string]any{}
	for key, f := range d.failed {
		if f.until.After(now) {
			out = append(out, map[string]any{"route": key, "error": f.err.Error(), "until": f.until})
		}
	}
	slices.SortFunc(out, func(a, b map[string]any) int { return cmp.Compare(a["route"].(string), b["route"].(string)) })
	return out
}

// maxRemembered bounds the failures remembered.
const maxRemembered = 10000

// add loads u and publishes it as the on-demand route key. Resolving and
// downloading run beside other loads; making room, loading, publishing
// and following run one at a time (loadMu), so that loads do not
// overshoot the budget together and each load's resident growth is its
// own.
func (d *demand) add(u resolver.URI, key string) error {
	if err := d.base.Err(); err != nil {
		return fmt.Errorf("%w: mlgate is stopping", serve.ErrColdStart)
	}
	if done, err := d.f.shareDemand(u, key, d.route(u, key)); done || err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(d.base, onDemandLoadTimeout)
	defer cancel()
	var (
		v      *loadedVersion
		fresh  bool
		locked bool
	)
	defer func() {
		if locked {
			d.loadMu.Unlock()
		}
	}()
	p, err := d.w.Prepare(ctx, u, func(ctx context.Context, res *resolver.Resolution, dir string) error {
		if !locked {
			d.loadMu.Lock()
			locked = true
		}
		size, err := infer.DirSize(dir)
		if err != nil {
			return err
		}
		if err := d.makeRoom(d.f.mem.estimate(size), u, ""); err != nil {
			return err
		}
		ctx, end := d.f.startDeploy(ctx, u, res)
		defer end()
		v, fresh, err = d.f.load(ctx, u, res, dir, d.cfg)
		return err
	})
	if err != nil {
		d.failures.Add(1)
		d.log.Warn("registry route: cannot load a model on demand", "uri", u.String(), "err", err)
		switch {
		case errors.Is(err, resolver.ErrNotFound), errors.Is(err, resolver.ErrPrompt):
			return fmt.Errorf("%w: %w", serve.ErrNotRegistered, err)
		}
		return err
	}
	defer v.model.Release()
	if err := d.makeRoom(0, u, v.key); err == nil {
		err = d.f.addDemand(u, d.route(u, key), d.cfg, v)
	}
	if err != nil {
		d.failures.Add(1)
		if fresh {
			d.f.models.Discard(v.key)
		}
		return err
	}
	d.loads.Add(1)
	// Followed before another load may unload it (loadMu), so that an
	// unload's Unwatch never comes first.
	d.w.Follow(u, p)
	return nil
}

// route is the on-demand route that serves u as key.
func (d *demand) route(u resolver.URI, key string) routeSpec {
	rs := d.spec
	rs.Name, rs.OnDemand = key, true
	rs.Targets = []serve.TargetSpec{{URI: u.String(), Alias: u.Alias, Weight: 1}}
	return routeSpec{RouteSpec: rs, uris: []resolver.URI{u}}
}

// makeRoom unloads least recently used on-demand models, never keep's,
// until what is loaded plus need fits the budget, and one more model fits
// the count. It fails, unloading nothing, when that is not possible.
func (d *demand) makeRoom(need int64, keep resolver.URI, keepKey string) error {
	if d.maxBytes == 0 && d.maxModels == 0 {
		return nil
	}
	evicted, err := d.f.evict(need, keep, keepKey, d.maxBytes, d.maxModels, "unloaded to make room for "+keep.String())
	for _, u := range evicted {
		d.w.Unwatch(u)
	}
	if len(evicted) > 0 {
		d.evictions.Add(int64(len(evicted)))
		d.trimSoon()
	}
	return err
}

// trimSoon asks run to trim the C heap.
func (d *demand) trimSoon() {
	select {
	case d.trim <- struct{}{}:
	default: // one is pending
	}
}

// run unloads, every so often, the on-demand models not requested for the
// idle time, until stop.
func (d *demand) run() {
	defer close(d.done)
	every := min(max(d.idle/4, 100*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.base.Done():
			return
		case now := <-t.C:
			d.unloadIdle(now)
		case <-d.trim:
			// The unloaded models' sessions are gone once their last
			// request ended: usually at once.
			infer.TrimMemory()
			d.trims.Add(1)
		}
	}
}

// unloadIdle unloads the on-demand models last requested before now less
// the idle time.
func (d *demand) unloadIdle(now time.Time) {
	for _, r := range d.f.current().routes {
		if !r.OnDemand || now.Sub(d.f.server.LastUsed(r.Name)) < d.idle {
			continue
		}
		d.loadMu.Lock() // not while a load makes room or publishes
		unused, err := d.f.dropDemand(r.Name, fmt.Sprintf("not requested for %s", d.idle))
		d.loadMu.Unlock()
		if err != nil {
			d.log.Error("registry route: cannot unload an idle model", "route", r.Name, "err", err)
			continue
		}
		if unused != nil {
			d.w.Unwatch(*unused)
		}
		d.idleUnloads.Add(1)
		d.trimSoon()
		d.log.Info("registry route: idle model unloaded", "route", r.Name, "idle", d.idle)
	}
}

// stop ends the idle check and the loads in progress.
func (d *demand) stop() {
	d.cancel()
	<-d.done
}

// figures are the registry routes' metrics.
func (d *demand) figures() telemetry.OnDemandFigures {
	hits, misses := d.f.server.OnDemandRequests()
	models := len(d.f.current().ownDemand(resolver.URI{}))
	return telemetry.OnDemandFigures{Hits: hits, Misses: misses, Loads: d.loads.Load(), Failures: d.failures.Load(),
		Evictions: d.evictions.Load(), IdleUnloads: d.idleUnloads.Load(), Models: int64(models),
		LoadedBytes: d.f.loadedBytes(), BudgetBytes: d.maxBytes}
}

// status is the registry routes' part of /admin/models.
func (d *demand) status() map[string]any {
	f := d.figures()
	hitRate := 0.0
	if f.Hits+f.Misses > 0 {
		hitRate = float64(f.Hits) / float64(f.Hits+f.Misses)
	}
	return map[string]any{
		"models": f.Models, "max_loaded_models": d.maxModels,
		"loaded_bytes": f.LoadedBytes, "max_loaded_bytes": d.maxBytes, "resident_bytes": residentBytes(),
		"hits": f.Hits, "misses": f.Misses, "hit_rate": hitRate,
		"loads": f.Loads, "failures": f.Failures, "evictions": f.Evictions, "idle_unloads": f.IdleUnloads,
		"idle_unload_seconds": d.idle.Seconds(), "cold_starts": d.coldStarts(), "memory_trims": d.trims.Load(),
		"failures_remembered": d.remembered(),
	}
}

// shareDemand publishes the on-demand route rs when a route already serves
// its URI: no load is needed. done reports whether it did (or the route
// was there).
func (f *fleet) shareDemand(u resolver.URI, key string, rs routeSpec) (done bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if slices.ContainsFunc(f.cur.routes, func(r routeSpec) bool { return r.Name == key }) {
		return true, nil
	}
	if f.cur.versions[u] == nil {
		return false, nil
	}
	next := f.cur.withRoute(rs, f.cur.configs[u])
	return true, f.publish(next, "registry route "+key+": served by the version already loaded for "+u.String())
}

// addDemand publishes rs, serving v loaded with cfg.
func (f *fleet) addDemand(u resolver.URI, rs routeSpec, cfg infer.Config, v *loadedVersion) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.cur.configs[u]; ok && batchingKey(c) != batchingKey(cfg) {
		return fmt.Errorf("model %s: a configured route loads it with other batching settings", u)
	}
	next := f.cur.withRoute(rs, cfg)
	if f.cur.versions[u] == nil {
		next = next.withVersion(u, v)
	}
	return f.publish(next, "registry route "+rs.Name+": loaded on demand")
}

// dropDemand publishes the lineup without the on-demand route key, and
// its URI's version when no other route uses it; unused is that URI then.
func (f *fleet) dropDemand(key, why string) (unused *resolver.URI, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	next, u, gone := f.cur.withoutRoute(key)
	if next == nil {
		return nil, nil
	}
	var discard string
	if gone {
		if v := f.cur.versions[u]; v != nil {
			discard = v.key
		}
	}
	if err := f.publish(next, "registry route "+key+": "+why); err != nil {
		return nil, err
	}
	if discard != "" && !f.cur.servesKey(discard) {
		f.models.Discard(discard)
	}
	if gone {
		return &u, nil
	}
	return nil, nil
}

// evict unloads least recently used on-demand models (never keep's, never
// a version a configured route serves) until what is loaded plus need fits
// maxBytes (0: no limit) and one more on-demand model fits maxModels (0: no
// limit), publishing once. Versions no route serves are dropped from the
// cache first. It returns the URIs no route uses any more; when the budget
// cannot be met it unloads nothing and fails with serve.ErrNoRoom.
func (f *fleet) evict(need int64, keep resolver.URI, keepKey string, maxBytes int64, maxModels int, why string) ([]resolver.URI, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fits := func(bytes int64, models int) bool {
		return (maxBytes == 0 || bytes+need <= maxBytes) && (maxModels == 0 || models < maxModels)
	}
	// Versions no route serves go first: the cache keeps them only for a
	// quick swap back.
	candidates := f.demandByAge(keep)
	bytes, models := f.loadedBytesLocked(), len(candidates)
	if maxBytes > 0 && !fits(bytes, 0) {
		for _, cv := range f.models.Versions() {
			if !cv.Held && cv.Key != keepKey {
				f.models.Discard(cv.Key)
			}
		}
		bytes = f.loadedBytesLocked()
	}
	if fits(bytes, models) {
		return nil, nil
	}
	next := f.cur
	var gone []resolver.URI
	var discard []string
	for _, r := range candidates {
		n, u, unused := next.withoutRoute(r.Name)
		if n == nil {
			continue
		}
		next = n
		models--
		if unused {
			gone = append(gone, u)
			if v := f.cur.versions[u]; v != nil && !slices.ContainsFunc(discard, func(k string) bool { return k == v.key }) {
				discard = append(discard, v.key)
				if !next.servesKey(v.key) {
					bytes -= f.mem.accounted(v.key, v.model.Bytes())
				}
			}
		}
		if fits(bytes, models) {
			break
		}
	}
	if !fits(bytes, models) {
		return nil, fmt.Errorf("%w: %s loaded of a %s budget, and what remains is held by configured routes or is this model's",
			serve.ErrNoRoom, bytesText(f.loadedBytesLocked()), bytesText(maxBytes))
	}
	if err := f.publish(next, why); err != nil {
		return nil, err
	}
	for _, k := range discard {
		if !next.servesKey(k) {
			f.models.Discard(k)
		}
	}
	f.log.Info("registry route: models unloaded to make room", "unloaded", len(gone), "for", keep.String(),
		"loaded_bytes", f.loadedBytesLocked(), "max_loaded_bytes", maxBytes)
	return gone, nil
}

// demandByAge lists the on-demand routes that may be unloaded for room,
// keep's excepted, least recently requested first. Called with f.mu held.
func (f *fleet) demandByAge(keep resolver.URI) []routeSpec {
	out := f.cur.ownDemand(keep)
	last := make(map[string]time.Time, len(out))
	for _, r := range out {
		last[r.Name] = f.server.LastUsed(r.Name)
	}
	slices.SortStableFunc(out, func(a, b routeSpec) int { return cmp.Compare(last[a.Name].UnixNano(), last[b.Name].UnixNano()) })
	return out
}

// loadedBytes is the memory accounted to every loaded version.
func (f *fleet) loadedBytes() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loadedBytesLocked()
}

func (f *fleet) loadedBytesLocked() int64 {
	var n int64
	for _, cv := range f.models.Versions() {
		n += f.mem.accounted(cv.Key, cv.Model.Bytes())
	}
	return n
}

// withRoute returns l with the on-demand route rs, its URI loaded with
// cfg.
func (l *lineup) withRoute(rs routeSpec, cfg infer.Config) *lineup {
	next := *l
	next.routes = append(slices.Clip(l.routes), rs)
	next.configs = maps.Clone(l.configs)
	if next.configs == nil {
		next.configs = map[resolver.URI]infer.Config{}
	}
	if _, ok := next.configs[rs.uris[0]]; !ok {
		next.configs[rs.uris[0]] = cfg
	}
	return &next
}

// withoutRoute returns l without the on-demand route key (nil when l has
// none), and its URI, with whether no route uses that URI any more; then
// its settings, version and standing go too.
func (l *lineup) withoutRoute(key string) (next *lineup, u resolver.URI, unused bool) {
	i := slices.IndexFunc(l.routes, func(r routeSpec) bool { return r.OnDemand && r.Name == key })
	if i < 0 {
		return nil, resolver.URI{}, false
	}
	n := *l
	n.routes = slices.Delete(slices.Clone(l.routes), i, i+1)
	u = l.routes[i].uris[0]
	if slices.ContainsFunc(n.routes, func(r routeSpec) bool { return slices.Contains(r.uris, u) }) {
		return &n, u, false
	}
	n.configs, n.versions, n.standings = maps.Clone(l.configs), maps.Clone(l.versions), maps.Clone(l.standings)
	delete(n.configs, u)
	delete(n.versions, u)
	delete(n.standings, u)
	return &n, u, true
}

// ownDemand returns l's on-demand routes that loaded a model of their own
// (no configured route uses their URI), but keep's: the models loaded on
// demand, which may be unloaded for room.
func (l *lineup) ownDemand(keep resolver.URI) []routeSpec {
	var out []routeSpec
	for _, r := range l.routes {
		if r.OnDemand && r.uris[0] != keep && !l.configured(r.uris[0]) {
			out = append(out, r)
		}
	}
	return out
}

// configured reports whether a configured route uses u.
func (l *lineup) configured(u resolver.URI) bool {
	return slices.ContainsFunc(l.routes, func(r routeSpec) bool { return !r.OnDemand && slices.Contains(r.uris, u) })
}

// servesKey reports whether a version of l is loaded under key.
func (l *lineup) servesKey(key string) bool {
	for _, v := range l.versions {
		if v.key == key {
			return true
		}
	}
	return false
}

// onDemand returns l's on-demand routes.
func (l *lineup) onDemand() []routeSpec {
	var out []routeSpec
	for _, r := range l.routes {
		if r.OnDemand {
			out = append(out, r)
		}
	}
	return out
}
