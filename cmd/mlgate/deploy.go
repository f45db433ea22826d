package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"

	"github.com/mlgate/mlgate/infer"
	"github.com/mlgate/mlgate/resolver"
	"github.com/mlgate/mlgate/serve"
	"github.com/mlgate/mlgate/signature"
	"github.com/mlgate/mlgate/telemetry"
)

// deployer carries "URI u now points at version N, whose files are in dir"
// from the resolver's watcher to the runtime and the server: it loads the
// version (or takes it from the loaded-model cache), and publishes it for
// u. It is the only place resolver, infer and serve meet.
type deployer struct {
	server *serve.Server
	models *infer.Cache
	log    *slog.Logger
	loads  singleflight.Group

	mu      sync.Mutex
	serving map[string]string // URI -> cache key of the version it serves
	global  infer.Config
	configs map[resolver.URI]infer.Config // per-URI settings (route overrides)

	// ins records model load durations; tracer, when set, records a
	// deploy span per version with the load and warm-up as children.
	ins    *telemetry.Instruments
	tracer trace.Tracer
}

var _ resolver.Deployer = (*deployer)(nil)

func newDeployer(server *serve.Server, models *infer.Cache, global infer.Config, log *slog.Logger) *deployer {
	return &deployer{server: server, models: models, global: global, log: log, serving: map[string]string{}}
}

// setConfigs installs the per-URI inference settings of a route table.
func (d *deployer) setConfigs(c map[resolver.URI]infer.Config) {
	d.mu.Lock()
	d.configs = c
	d.mu.Unlock()
}

func (d *deployer) configFor(u resolver.URI) infer.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.configs[u]; ok {
		return c
	}
	return d.global
}

// Deploy loads res (unless the cache has it) and publishes it for u. The
// version serving u is untouched when loading fails.
func (d *deployer) Deploy(ctx context.Context, u resolver.URI, res *resolver.Resolution, dir string) error {
	if d.tracer != nil {
		var span trace.Span
		ctx, span = d.tracer.Start(ctx, "mlgate.deploy", trace.WithAttributes(
			attribute.String("model.name", res.Name), attribute.String("model.version", res.Version),
			attribute.String("model.alias", u.Alias), attribute.String("mlflow.run_id", res.RunID)))
		defer span.End()
	}
	cfg := d.configFor(u)
	// One version loaded with two batching settings is two models.
	key := res.Key() + " batching " + batchingKey(cfg)
	d.models.Pin(key) // held through load and publish, and while serving
	m, err := d.load(ctx, key, dir, cfg, res)
	if err != nil {
		d.models.Unpin(key)
		return err
	}
	defer m.Release()
	uri := u.String()
	if err := d.server.Publish(uri, m, provenance(u, res, m.MLmodel())); err != nil {
		d.models.Unpin(key)
		return err
	}
	d.mu.Lock()
	prev, had := d.serving[uri]
	d.serving[uri] = key
	d.mu.Unlock()
	if had {
		d.models.Unpin(prev)
	}
	return nil
}

// load returns the loaded version for key with a reference for the caller,
// loading it once even when several URIs resolve to it at the same time.
func (d *deployer) load(ctx context.Context, key, dir string, cfg infer.Config, res *resolver.Resolution) (*infer.Model, error) {
	if m, ok := d.models.Get(key); ok {
		return m, nil
	}
	ran := false
	v, err, _ := d.loads.Do(key, func() (any, error) {
		ran = true
		if m, ok := d.models.Get(key); ok {
			return m, nil
		}
		start := time.Now()
		m, err := infer.Load(ctx, dir, cfg)
		if d.ins != nil {
			d.ins.RecordModelLoad(ctx, res.Name, res.Version, time.Since(start), err)
		}
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", dir, err)
		}
		info := m.Info()
		d.log.Info("model version loaded", "key", key, "took", time.Since(start), "bytes", m.Bytes(),
			"batching", info.Batching, "workers", info.Workers, "workers_choice", info.Calibration.Choice)
		d.models.Add(key, m)
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	m := v.(*infer.Model)
	if ran {
		return m, nil // the reference Load (or Get) took is this caller's
	}
	// Callers that shared another's load take their own reference; the
	// version is pinned, so the cache still holds it.
	if !m.Acquire() {
		return nil, fmt.Errorf("load %s: version released while loading", dir)
	}
	return m, nil
}

// Withdraw stops serving u (the alias or version vanished and the policy is
// to withdraw).
func (d *deployer) Withdraw(u resolver.URI, reason error) {
	uri := u.String()
	d.server.Withdraw(uri)
	d.mu.Lock()
	prev, had := d.serving[uri]
	delete(d.serving, uri)
	d.mu.Unlock()
	if had {
		d.models.Unpin(prev)
	}
}

// forget unpins the version serving u, for a URI no route uses any more.
func (d *deployer) forget(uri string) {
	d.mu.Lock()
	prev, had := d.serving[uri]
	delete(d.serving, uri)
	d.mu.Unlock()
	if had {
		d.models.Unpin(prev)
	}
}

// provenance builds the response headers' values for u serving res. The
// run is the version's run_id, else the MLmodel's run_id, else the logged
// model's source run.
func provenance(u resolver.URI, res *resolver.Resolution, ml *signature.MLmodel) serve.Provenance {
	p := serve.Provenance{
		Name: res.Name, Version: res.Version, Alias: u.Alias,
		RunID: res.RunID, GitCommit: res.GitCommit, ModelID: res.ModelID,
	}
	if p.RunID == "" || res.RunIDFrom == resolver.RunIDFromLoggedModel {
		if id := ml.RunID; id != "" {
			p.RunID = id
		}
	}
	if p.ModelID == "" {
		p.ModelID = ml.ModelID
	}
	if p.Name == "" { // models:/m-<id>: no registered name
		p.Name = p.ModelID
	}
	return p
}
