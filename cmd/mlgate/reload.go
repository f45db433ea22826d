package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/mlgate/mlgate/resolver"
	"github.com/mlgate/mlgate/serve"
)

// errNoConfigFile is returned by a reload when mlgate was started without
// --config: there is nothing to re-read.
var errNoConfigFile = errors.New("mlgate was started without --config; there is no file to reload")

// reload re-reads the configuration and swaps in its routes. It stages the
// change first: the new file is parsed and checked, the new route table is
// compiled without publishing it, and every model URI new to the routes is
// resolved, fetched, loaded and warmed. Then one publish swaps the routes,
// the inference settings and the new versions in together, and only then
// are the new URIs followed and the removed ones let go. A configuration
// that fails at any step is rejected and nothing changes: routes,
// settings, served versions and followed URIs stay as they were. Only
// routes and default_route are reloaded; other settings need a restart.
func (a *app) reload(ctx context.Context) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.reloadConfig == nil {
		return errNoConfigFile
	}
	cfg, proposed, err := a.readReload()
	if err != nil {
		a.reloadEvent(err, nil)
		return err
	}
	st, err := a.fleet.stage(ctx, proposed, a.watcher)
	if err != nil {
		err = fmt.Errorf("new configuration: %w", err)
		a.reloadEvent(err, nil)
		return err
	}
	removed, err := a.fleet.commit(st)
	if err != nil {
		err = fmt.Errorf("new configuration: %w", err)
		a.reloadEvent(err, nil)
		return err
	}
	a.reloadEvent(nil, proposed)
	for _, s := range st.added {
		a.watcher.Follow(s.uri, s.prep)
	}
	for _, u := range removed {
		a.watcher.Unwatch(u)
	}
	a.warnRestartOnly(cfg)
	a.log.Info("configuration reloaded", "routes", len(proposed.routes), "new_models", len(st.added), "released_models", len(removed))
	return nil
}

// readReload reads and checks the new configuration, without side
// effects, and returns the lineup it asks for (no versions yet).
func (a *app) readReload() (Config, *lineup, error) {
	cfg, err := a.reloadConfig()
	if err != nil {
		return Config{}, nil, fmt.Errorf("new configuration: %w", err)
	}
	if err := cfg.validate(); err != nil {
		return Config{}, nil, fmt.Errorf("new configuration:\n%s", indent(err))
	}
	// Global settings are the running ones: they take effect on restart.
	rcfg := cfg
	rcfg.JSONNonFinite, rcfg.MissingValues = a.cfg.JSONNonFinite, a.cfg.MissingValues
	routes, err := parseRoutes(rcfg)
	if err != nil {
		return Config{}, nil, fmt.Errorf("new configuration: %w", err)
	}
	// The global inference settings are the running ones: like every
	// setting outside routes and default_route they take effect on restart
	// (warnRestartOnly says so). A route's batching override is a route
	// setting and applies.
	icfg, err := inferConfig(a.cfg, a.log)
	if err != nil {
		return Config{}, nil, fmt.Errorf("new configuration: %w", err)
	}
	icfg.Tracer = a.fleet.tracer
	configs, err := inferConfigs(routes, icfg)
	if err != nil {
		return Config{}, nil, fmt.Errorf("new configuration: %w", err)
	}
	return cfg, &lineup{routes: routes, defaultRoute: cfg.DefaultRoute, configs: configs}, nil
}

// staged is a proposed lineup whose URIs new to the routes have been
// resolved, fetched and loaded, not yet published. It holds a reference on
// each version it loaded until commit or abandon.
type staged struct {
	proposed *lineup
	added    []stagedURI
}

// stagedURI is one URI new to the routes, ready to serve.
type stagedURI struct {
	uri   resolver.URI
	prep  *resolver.Prepared
	v     *loadedVersion
	fresh bool // v was loaded for this change, not found in the cache
}

// stage checks proposed against what serves now (its route table compiles;
// no URI that stays changes batching settings) and loads the versions of
// the URIs it adds, through w. It publishes nothing and changes nothing:
// on failure it lets go of what it loaded.
func (f *fleet) stage(ctx context.Context, proposed *lineup, w *resolver.Watcher) (*staged, error) {
	if _, err := f.server.Compile(specsOf(proposed.routes), proposed.defaultRoute, nil); err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	f.mu.Lock()
	cur := f.cur
	f.mu.Unlock()
	if err := checkBatching(cur, proposed); err != nil {
		return nil, err
	}
	st := &staged{proposed: proposed}
	for _, u := range urisOf(proposed.routes) {
		if _, used := cur.configs[u]; !used {
			st.added = append(st.added, stagedURI{uri: u})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range st.added {
		s := &st.added[i]
		g.Go(func() error {
			p, err := w.Prepare(gctx, s.uri, func(ctx context.Context, res *resolver.Resolution, dir string) error {
				ctx, end := f.startDeploy(ctx, s.uri, res)
				defer end()
				v, fresh, err := f.load(ctx, s.uri, res, dir, proposed.configs[s.uri])
				s.v, s.fresh = v, fresh
				return err
			})
			s.prep = p
			return err
		})
	}
	if err := g.Wait(); err != nil {
		st.abandon(f)
		return nil, err
	}
	return st, nil
}

// checkBatching refuses a change of batching settings for a URI that stays
// in the routes: one loaded version has one batching mode, and the version
// serving it was loaded with the current one.
func checkBatching(cur, proposed *lineup) error {
	for _, u := range urisOf(proposed.routes) {
		old, stays := cur.configs[u]
		if stays && batchingKey(old) != batchingKey(proposed.configs[u]) {
			return fmt.Errorf("model %s: changing its batching settings needs a restart", u)
		}
	}
	return nil
}

// commit publishes st: the proposed routes and settings, the staged
// versions for the added URIs, and the versions serving now for the URIs
// that stay. It returns the URIs no route uses any more. Either way the
// staged references are let go: the serving state and the cache hold what
// serves.
func (f *fleet) commit(st *staged) ([]resolver.URI, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := *st.proposed
	next.versions = map[resolver.URI]*loadedVersion{}
	next.standings = map[resolver.URI]resolver.Standing{}
	for u := range next.configs {
		if v := f.cur.versions[u]; v != nil {
			next.versions[u] = v
		}
		if s, ok := f.cur.standings[u]; ok {
			next.standings[u] = s
		}
	}
	for _, s := range st.added {
		next.versions[s.uri] = s.v
	}
	f.carryDemand(&next)
	prev := f.cur
	if err := f.publish(&next, "configuration reloaded"); err != nil {
		st.abandon(f)
		return nil, err
	}
	st.release()
	var removed []resolver.URI
	for _, u := range urisOf(prev.routes) {
		if _, used := next.configs[u]; !used {
			removed = append(removed, u)
		}
	}
	return removed, nil
}

// carryDemand keeps in next the on-demand routes serving now, with their
// settings, versions and standings: a reload changes only the configured
// routes.
func (f *fleet) carryDemand(next *lineup) {
	demand := f.cur.onDemand()
	if len(demand) == 0 {
		return
	}
	next.routes = append(slices.Clip(next.routes), demand...)
	next.configs = maps.Clone(next.configs)
	for _, r := range demand {
		u := r.uris[0]
		if _, ok := next.configs[u]; !ok {
			next.configs[u] = f.cur.configs[u]
		}
		if v := f.cur.versions[u]; v != nil && next.versions[u] == nil {
			next.versions[u] = v
		}
		if s, ok := f.cur.standings[u]; ok {
			next.standings[u] = s
		}
	}
}

// release gives back the staged references.
func (st *staged) release() {
	for _, s := range st.added {
		if s.v != nil {
			s.v.model.Release()
		}
	}
}

// abandon gives back the staged references and drops from the cache the
// versions loaded for this change, unless something holds them.
func (st *staged) abandon(f *fleet) {
	for _, s := range st.added {
		if s.v != nil && s.fresh {
			f.models.Discard(s.v.key)
		}
	}
	st.release()
}

// warnRestartOnly logs settings that changed in the file but only take
// effect on restart.
func (a *app) warnRestartOnly(cfg Config) {
	old, neu := a.cfg, cfg
	old.Routes, neu.Routes = nil, nil
	old.DefaultRoute, neu.DefaultRoute = "", ""
	if !reflect.DeepEqual(old, neu) {
		a.log.Warn("configuration reload: settings other than routes and default_route changed; they take effect on restart")
	}
}

// Reload is POST /admin/reload and SIGHUP.
func (o *operator) Reload(ctx context.Context) error {
	if o.reload == nil {
		return fmt.Errorf("%w: reload is not available", serve.ErrDisabled)
	}
	if err := o.reload(ctx); err != nil {
		if errors.Is(err, errNoConfigFile) {
			return fmt.Errorf("%w: %w", serve.ErrDisabled, err)
		}
		return fmt.Errorf("%w: %w", serve.ErrInvalid, err)
	}
	return nil
}
