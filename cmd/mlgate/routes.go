package main

import (
	"fmt"

	"github.com/mlgate/mlgate/infer"

	"github.com/mlgate/mlgate/resolver"
	"github.com/mlgate/mlgate/serve"
)

// routeSpec is a route with its model URIs parsed.
type routeSpec struct {
	serve.RouteSpec
	// uris are every URI the route needs followed: targets and shadow.
	uris []resolver.URI
	// batching is the route's batching override, nil for the global one.
	batching *BatchingConfig
}

// parseRoutes turns --model or the config file's routes into route specs
// with parsed URIs. Errors name the setting.
func parseRoutes(cfg Config) ([]routeSpec, error) {
	routes := cfg.Routes
	if cfg.Model != "" {
		name := cfg.ModelName
		if name == "" {
			name = "default"
		}
		routes = []RouteConfig{{Name: name, Model: cfg.Model}}
	}
	out := make([]routeSpec, 0, len(routes))
	for i, r := range routes {
		at := fmt.Sprintf("routes[%d]", i)
		if cfg.Model != "" {
			at = "model"
		}
		targets := r.Targets
		if r.Model != "" {
			targets = []TargetConfig{{Model: r.Model, Weight: 1}}
		}
		rs := routeSpec{RouteSpec: serve.RouteSpec{Name: r.Name, NoOverride: r.Override != nil && !*r.Override}, batching: r.Batching}
		for k, tg := range targets {
			u, err := resolver.ParseURI(tg.Model)
			if err != nil {
				where := at + ".model"
				if r.Model == "" {
					where = fmt.Sprintf("%s.targets[%d].model", at, k)
				}
				return nil, fmt.Errorf("%s (route %s): %w", where, r.Name, err)
			}
			rs.Targets = append(rs.Targets, serve.TargetSpec{URI: u.String(), Alias: u.Alias, Weight: tg.Weight})
			rs.uris = append(rs.uris, u)
		}
		if st := r.Sticky; st != nil {
			rs.Sticky = &serve.StickySpec{Header: st.Header, Column: st.Column}
		}
		if l := r.Limits; l != nil {
			rs.Limits = serve.Limits{MaxRows: l.MaxRows, MaxElements: l.MaxElements}
		}
		if sh := r.Shadow; sh != nil {
			u, err := resolver.ParseURI(sh.Model)
			if err != nil {
				return nil, fmt.Errorf("%s.shadow.model (route %s): %w", at, r.Name, err)
			}
			sample := sh.Sample
			if sample == 0 {
				sample = 1
			}
			rs.Shadow = &serve.ShadowSpec{URI: u.String(), Alias: u.Alias, Sample: sample}
			rs.uris = append(rs.uris, u)
		}
		out = append(out, rs)
	}
	return out, nil
}

// specsOf returns the serve specs of routes.
func specsOf(routes []routeSpec) []serve.RouteSpec {
	out := make([]serve.RouteSpec, len(routes))
	for i, r := range routes {
		out[i] = r.RouteSpec
	}
	return out
}

// urisOf returns the distinct URIs routes need, in order.
func urisOf(routes []routeSpec) []resolver.URI {
	seen := map[resolver.URI]bool{}
	var out []resolver.URI
	for _, r := range routes {
		for _, u := range r.uris {
			if !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
	}
	return out
}

// inferConfigs returns the inference settings of every URI the routes use:
// the global ones, with a route's batching override applied to its
// targets and shadow. A URI that two routes configure differently is an
// error: one loaded version has one batching mode.
func inferConfigs(routes []routeSpec, global infer.Config) (map[resolver.URI]infer.Config, error) {
	out := map[resolver.URI]infer.Config{}
	from := map[resolver.URI]string{}
	for _, r := range routes {
		cfg := global
		if b := r.batching; b != nil {
			if b.Mode != "" {
				mode, err := infer.ParseBatchMode(b.Mode)
				if err != nil {
					return nil, fmt.Errorf("route %s: batching: %w", r.Name, err)
				}
				cfg.Batching = mode
			}
			if b.MaxBatchRows > 0 {
				cfg.MaxBatchRows = b.MaxBatchRows
			}
			if b.MaxDelay > 0 {
				cfg.MaxDelay = b.MaxDelay
			}
		}
		for _, u := range r.uris {
			if prev, ok := out[u]; ok && batchingKey(prev) != batchingKey(cfg) {
				return nil, fmt.Errorf("model %s has different batching settings in routes %s and %s; one loaded version has one batching mode", u, from[u], r.Name)
			}
			out[u], from[u] = cfg, r.Name
		}
	}
	return out, nil
}

// batchingKey identifies the batching settings that make two loads of one
// version different.
func batchingKey(c infer.Config) string {
	return fmt.Sprintf("%s/%d/%s", c.Batching, c.MaxBatchRows, c.MaxDelay)
}
