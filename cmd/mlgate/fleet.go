package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/mlgate/mlgate/infer"
	"github.com/mlgate/mlgate/resolver"
	"github.com/mlgate/mlgate/serve"
	"github.com/mlgate/mlgate/signature"
	"github.com/mlgate/mlgate/telemetry"
)

// fleet owns what mlgate serves, and so the life of every loaded version:
// its current lineup is the route table, the inference settings of each
// model URI and the version serving each URI. Every change (a URI's first
// version at start, an alias move, a withdrawal, a reload) builds a new
// lineup and goes through publish, which swaps the whole serving state in
// at once or changes nothing. A version lives while the live serving state
// holds it, then in the loaded-model cache while it fits, then until its
// last request ends. fleet is the only place resolver, infer and serve
// meet. Its methods are safe for concurrent use.
type fleet struct {
	server *serve.Server
	models *infer.Cache
	log    *slog.Logger
	// ins records model load durations; tracer, when set, records a
	// deploy span per version with the load and warm-up as children.
	ins    *telemetry.Instruments
	tracer trace.Tracer
	// tags are the run tags responses carry as headers (provenance.tags).
	tags []string

	mu  sync.Mutex // serialises changes; guards cur
	cur *lineup

	provsMu sync.Mutex
	// provs holds the provenance of each loaded version by cache key, for
	// the status page's list of loaded versions.
	provs map[string]serve.Provenance
	// mem accounts the memory of each loaded version, for the budget.
	mem ledger
}

var _ resolver.Deployer = (*fleet)(nil)

// lineup is one complete serving state as mlgate describes it. A lineup is
// never changed once published: a change makes a new one.
type lineup struct {
	routes       []routeSpec
	defaultRoute string
	// configs holds the inference settings of every URI the routes use.
	configs map[resolver.URI]infer.Config
	// versions holds the version serving each URI; a URI is absent before
	// its first version loads and after a withdrawal.
	versions map[resolver.URI]*loadedVersion
	// standings holds why the version serving a URI is not the one the
	// registry names, as the watcher last said; absent when it is.
	standings map[resolver.URI]resolver.Standing
}

// loadedVersion is one loaded model version serving a URI. The lineup holds no
// reference of its own: the live serving state and the cache do.
type loadedVersion struct {
	// key is the version's loaded-model cache key: its identity and the
	// batching settings it was loaded with.
	key   string
	model *infer.Model
	prov  serve.Provenance
}

func newFleet(server *serve.Server, models *infer.Cache, log *slog.Logger, ins *telemetry.Instruments, tracer trace.Tracer) *fleet {
	return &fleet{server: server, models: models, log: log, ins: ins, tracer: tracer, provs: map[string]serve.Provenance{}}
}

// start publishes the first lineup: routes whose URIs have no version yet.
func (f *fleet) start(routes []routeSpec, defaultRoute string, configs map[resolver.URI]infer.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.publish(&lineup{routes: routes, defaultRoute: defaultRoute, configs: configs}, "start")
}

// publish makes next what mlgate serves: it compiles next's serving state,
// which checks it whole, swaps it in (the timeline records the swaps and
// withdrawals with why), tells the loaded-model cache which versions it
// holds, and records next as current. When it fails nothing has changed. It is the only place the serving state changes; called with
// f.mu held.
func (f *fleet) publish(next *lineup, why string) error {
	snap, err := f.server.Compile(specsOf(next.routes), next.defaultRoute, next.deployments())
	if err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	if err := f.server.PublishBecause(snap, why); err != nil {
		return err
	}
	f.models.Hold(next.held())
	f.cur = next
	f.forgetUnloaded()
	return nil
}

func (l *lineup) deployments() map[string]serve.Deployment {
	out := make(map[string]serve.Deployment, len(l.versions))
	for u, v := range l.versions {
		out[u.String()] = serve.Deployment{Model: v.model, Provenance: v.prov, Standing: standingOf(l.standings[u], v)}
	}
	for u, st := range l.standings {
		if l.versions[u] == nil {
			out[u.String()] = serve.Deployment{Standing: standingOf(st, nil)}
		}
	}
	return out
}

// standingOf is what responses from v (nil: none) say of st. A standing
// about the version v is (it loaded after all, and the watcher has not
// said so yet) says nothing.
func standingOf(st resolver.Standing, v *loadedVersion) serve.Standing {
	if v != nil && st.Version == v.prov.Version {
		switch st.Status {
		case resolver.ServingLoading, resolver.ServingLoadFailed, resolver.ServingGaveUp, resolver.ServingNotReady:
			return serve.Standing{}
		}
	}
	return serve.Standing{Status: string(st.Status), RegistryVersion: st.Version, Reason: st.Reason}
}

func (l *lineup) held() map[string]*infer.Model {
	out := make(map[string]*infer.Model, len(l.versions))
	for _, v := range l.versions {
		out[v.key] = v.model
	}
	return out
}

// withVersion returns l with v serving u.
func (l *lineup) withVersion(u resolver.URI, v *loadedVersion) *lineup {
	next := *l
	next.versions = maps.Clone(l.versions)
	if next.versions == nil {
		next.versions = map[resolver.URI]*loadedVersion{}
	}
	next.versions[u] = v
	return &next
}

// withStanding returns l with st for u.
func (l *lineup) withStanding(u resolver.URI, st resolver.Standing) *lineup {
	next := *l
	next.standings = maps.Clone(l.standings)
	if next.standings == nil {
		next.standings = map[resolver.URI]resolver.Standing{}
	}
	if st == (resolver.Standing{}) {
		delete(next.standings, u)
	} else {
		next.standings[u] = st
	}
	return &next
}

// withoutVersion returns l with nothing serving u.
func (l *lineup) withoutVersion(u resolver.URI) *lineup {
	next := *l
	next.versions = maps.Clone(l.versions)
	delete(next.versions, u)
	return &next
}

// current returns the lineup serving now; it must not be changed.
func (f *fleet) current() *lineup {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

// Deploy loads res (unless the cache has it) and publishes it for u. What
// serves u is untouched when loading or publishing fails, and a URI no
// route uses any more (a reload removed it) is not served again.
func (f *fleet) Deploy(ctx context.Context, u resolver.URI, res *resolver.Resolution, dir string) error {
	f.mu.Lock()
	cfg, ok := f.cur.configs[u]
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("model %s: no route uses it any more", u)
	}
	ctx, end := f.startDeploy(ctx, u, res)
	defer end()
	v, fresh, err := f.load(ctx, u, res, dir, cfg)
	if err != nil {
		return err
	}
	defer v.model.Release()
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.cur.configs[u]; !ok {
		err = fmt.Errorf("model %s: no route uses it any more", u)
	} else {
		why := "new version from the registry"
		if f.cur.versions[u] == nil {
			why = "first version"
		}
		err = f.publish(f.cur.withVersion(u, v), why)
	}
	if err != nil && fresh {
		f.models.Discard(v.key)
	}
	return err
}

// Withdraw stops serving u (the alias or version vanished and the policy is
// to withdraw).
func (f *fleet) Withdraw(u resolver.URI, reason error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur.versions[u] == nil {
		return
	}
	if err := f.publish(f.cur.withoutVersion(u), "vanished from the registry: "+reason.Error()); err != nil {
		f.log.Error("cannot withdraw a model", "uri", u.String(), "reason", reason, "err", err)
	}
}

// Stand publishes what the watcher says of u, so that responses say it in
// their headers, and logs each change of status or registry version once.
// It loads nothing: the versions serving stay.
func (f *fleet) Stand(u resolver.URI, st resolver.Standing) {
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := f.cur.standings[u]
	if _, used := f.cur.configs[u]; !used || prev == st {
		return
	}
	if err := f.publish(f.cur.withStanding(u, st), "the registry names version "+st.Version+" ("+string(st.Status)+")"); err != nil {
		f.log.Error("cannot publish what the registry names for a model", "uri", u.String(), "serving_status", st.Status, "err", err)
		return
	}
	if prev.Status == st.Status && prev.Version == st.Version {
		return
	}
	serving := ""
	if v := f.cur.versions[u]; v != nil {
		serving = v.prov.Version
	}
	if st.Status == "" {
		f.log.Info("model URI serves what the registry names again", "uri", u.String(), "version", serving,
			"was", prev.Status, "was_registry_version", prev.Version)
		return
	}
	lvl := slog.LevelWarn
	switch st.Status {
	case resolver.ServingLoading:
		lvl = slog.LevelInfo
	case resolver.ServingGaveUp, resolver.ServingMissing:
		lvl = slog.LevelError
	}
	f.log.Log(context.Background(), lvl, "model URI does not serve what the registry names", "uri", u.String(),
		"serving_version", serving, "registry_version", st.Version, "serving_status", st.Status, "reason", st.Reason)
}

// startDeploy starts the span of deploying res for u, when tracing.
func (f *fleet) startDeploy(ctx context.Context, u resolver.URI, res *resolver.Resolution) (context.Context, func()) {
	if f.tracer == nil {
		return ctx, func() {}
	}
	ctx, span := f.tracer.Start(ctx, "mlgate.deploy", trace.WithAttributes(
		attribute.String("model.name", res.Name), attribute.String("model.version", res.Version),
		attribute.String("model.alias", u.Alias), attribute.String("mlflow.run_id", res.RunID),
		attribute.String("mlflow.data_version", res.DataVersion)))
	return ctx, func() { span.End() }
}

// load returns res, whose files are in dir, loaded with cfg to serve u,
// with a reference for the caller: from the cache, or loaded once however
// many callers want it at the same time. fresh is true when this call
// loaded it.
func (f *fleet) load(ctx context.Context, u resolver.URI, res *resolver.Resolution, dir string, cfg infer.Config) (*loadedVersion, bool, error) {
	// One version loaded with two batching settings is two models.
	key := res.Key() + " batching " + batchingKey(cfg)
	m, fresh, err := f.models.Load(ctx, key, func(ctx context.Context) (*infer.Model, error) {
		start := time.Now()
		measured := f.mem.begin()
		m, err := infer.Load(ctx, dir, cfg)
		use := measured()
		if err == nil {
			use.FileBytes = m.Bytes()
			f.mem.record(key, use)
		}
		if f.ins != nil {
			f.ins.RecordModelLoad(ctx, res.Name, res.Version, time.Since(start), err)
		}
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", dir, err)
		}
		info := m.Info()
		f.log.Info("model version loaded", "key", key, "took", time.Since(start), "bytes", m.Bytes(),
			"rss_delta_bytes", use.RSSDelta, "rss_measured", use.Measured,
			"batching", info.Batching, "workers", info.Workers, "workers_choice", info.Calibration.Choice)
		f.recordLoad(u, res, info)
		return m, nil
	})
	if err != nil {
		return nil, false, err
	}
	v := &loadedVersion{key: key, model: m, prov: provenance(u, res, m.MLmodel(), f.tags)}
	if !fresh {
		f.server.RecordEvent(serve.Event{Kind: serve.EventLoad, URI: u.String(), Version: res.Version,
			Reason: "already loaded: taken from the loaded-model cache"})
	}
	f.remember(key, v.prov)
	return v, fresh, nil
}

// provenance builds the response headers' values for u serving res, with
// the run's tags among tags. The run is the version's run_id, else the
// MLmodel's run_id, else the logged model's source run.
func provenance(u resolver.URI, res *resolver.Resolution, ml *signature.MLmodel, tags []string) serve.Provenance {
	p := serve.Provenance{
		Name: res.Name, Version: res.Version, Alias: u.Alias,
		RunID: res.RunID, GitCommit: res.GitCommit, ModelID: res.ModelID, DataVersion: res.DataVersion,
		ExperimentID: res.ExperimentID,
	}
	for _, t := range tags {
		if v, ok := res.RunTags[t]; ok {
			if p.Tags == nil {
				p.Tags = map[string]string{}
			}
			p.Tags[t] = v
		}
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
