package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"golang.org/x/sync/errgroup"

	"github.com/mlgate/mlgate/resolver"
	"github.com/mlgate/mlgate/serve"
)

// errNoConfigFile is returned by a reload when mlgate was started without
// --config: there is nothing to re-read.
var errNoConfigFile = errors.New("mlgate was started without --config; there is no file to reload")

// reload re-reads the configuration and swaps in its routes: models new
// to the routes are resolved, loaded and warmed first, then the route table
// is replaced in one atomic swap, then models no route uses any more are
// released once their requests finish. A configuration that does not
// parse, validate or load is rejected and the current routes keep serving.
// Only routes and default_route are reloaded; other settings need a
// restart.
func (a *app) reload(ctx context.Context) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.reloadConfig == nil {
		return errNoConfigFile
	}
	cfg, err := a.reloadConfig()
	if err != nil {
		return fmt.Errorf("new configuration: %w", err)
	}
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("new configuration:\n%s", indent(err))
	}
	routes, err := parseRoutes(cfg)
	if err != nil {
		return fmt.Errorf("new configuration: %w", err)
	}
	icfg, err := inferConfig(cfg, a.log)
	if err != nil {
		return fmt.Errorf("new configuration: %w", err)
	}
	icfg.Tracer = a.deployer.tracer
	configs, err := inferConfigs(routes, icfg)
	if err != nil {
		return fmt.Errorf("new configuration: %w", err)
	}
	for u, c := range configs {
		if old := a.deployer.configFor(u); batchingKey(old) != batchingKey(c) && containsURI(a.routes, u) {
			return fmt.Errorf("new configuration: model %s: changing its batching settings needs a restart", u)
		}
	}
	a.deployer.setConfigs(configs)
	current := map[resolver.URI]bool{}
	for _, u := range urisOf(a.routes) {
		current[u] = true
	}
	var added []resolver.URI
	for _, u := range urisOf(routes) {
		if !current[u] {
			added = append(added, u)
		}
	}
	undo := func() {
		for _, u := range added {
			a.watcher.Unwatch(u)
			a.server.Withdraw(u.String())
			a.deployer.forget(u.String())
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, u := range added {
		g.Go(func() error { return a.watcher.Watch(gctx, u) })
	}
	if err := g.Wait(); err != nil {
		undo()
		return fmt.Errorf("new configuration: %w", err)
	}
	removed, err := a.server.SetRoutes(specsOf(routes), cfg.DefaultRoute)
	if err != nil {
		undo()
		return fmt.Errorf("new configuration: routes: %w", err)
	}
	for _, uri := range removed {
		if u, err := resolver.ParseURI(uri); err == nil {
			a.watcher.Unwatch(u)
		}
		a.deployer.forget(uri)
	}
	a.routes = routes
	a.warnRestartOnly(cfg)
	a.log.Info("configuration reloaded", "routes", len(routes), "new_models", len(added), "released_models", len(removed))
	return nil
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

func containsURI(routes []routeSpec, u resolver.URI) bool {
	for _, r := range routes {
		for _, x := range r.uris {
			if x == u {
				return true
			}
		}
	}
	return false
}
