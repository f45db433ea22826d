package telemetry

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Sources supplies the figures the observable instruments report. Each
// func is called on every collection (every /metrics scrape), from the
// scraping goroutine, so it must be safe for concurrent use and cheap; a
// nil func leaves its instruments without series.
type Sources struct {
	// ActiveRequests returns how many scoring requests are in flight (all
	// are POST). Reported as http.server.active_requests.
	ActiveRequests func() int64
	// LoadedVersions returns how many model versions are loaded, how many
	// of them serve a route (pinned), and the size of their model files.
	LoadedVersions func() (versions, pinned, bytes int64)
	// LiveSessions returns how many ONNX Runtime sessions exist, retired
	// ones still finishing requests included.
	LiveSessions func() int64
	// Staleness returns, per watched model URI, how long ago the registry
	// last confirmed what it points at, and whether the version serving
	// may no longer be what the registry says.
	Staleness func() []URIStaleness
	// Swaps returns, per watched model URI, the version swaps and the
	// failed reloads (download or load) since the URI was first watched.
	// The counts must only grow while the URI is watched; a URI that is
	// watched again from zero shows as a counter reset.
	Swaps func() []URICount
	// Shadow returns each shadowed route's comparison figures, cumulative
	// since the shadow was configured.
	Shadow func() []ShadowFigures
	// Targets returns each route target's serving status, one of
	// TargetStatuses. Reported as mlgate.target.serving_status: 1 for the
	// target's status, 0 for each other one of TargetStatuses.
	Targets func() []TargetServing
	// TargetStatuses are every serving status Targets may report.
	TargetStatuses []string
	// OnDemand returns the registry routes' figures; nil without
	// registry routes.
	OnDemand func() OnDemandFigures
}

// TargetServing is the serving status of one target of a route: whether
// it serves the version the registry names, and if not why.
type TargetServing struct {
	Route, Target, Status string
}

// URIStaleness is how current one watched URI's resolution is.
type URIStaleness struct {
	URI     string
	Seconds float64
	Stale   bool
}

// URICount is the swap and reload-failure counts of one watched URI.
type URICount struct {
	URI      string
	Swaps    int64
	Failures int64
}

// ShadowFigures is a route's primary-versus-shadow comparison.
type ShadowFigures struct {
	Route     string
	ShadowURI string
	// Sampled requests were chosen for shadowing; Dropped of them found
	// the shadow queue full; Errors failed on the shadow; Compared were
	// compared.
	Sampled, Dropped, Errors, Compared int64
	Outputs                            []OutputFigures
	// MeanLatencyDiffSeconds is the shadow's mean latency minus the
	// primary's on the same requests.
	MeanLatencyDiffSeconds float64
}

// OutputFigures compares one model output.
type OutputFigures struct {
	Output string
	// Values compared, and Disagreements among them (labels that differ,
	// or numbers beyond the comparison tolerance).
	Values, Disagreements int64
	// Numeric is true for a numeric output; MeanAbsDiff and P99AbsDiff
	// are reported only for those.
	Numeric                 bool
	MeanAbsDiff, P99AbsDiff float64
}

// observables are the callback instruments Sources feed.
type observables struct {
	active         metric.Int64ObservableUpDownCounter
	versionsLoaded metric.Int64ObservableGauge
	modelBytes     metric.Int64ObservableGauge
	sessions       metric.Int64ObservableGauge
	staleness      metric.Float64ObservableGauge
	stale          metric.Int64ObservableGauge
	swaps          metric.Int64ObservableCounter
	reloadFailures metric.Int64ObservableCounter

	shadowSampled      metric.Int64ObservableCounter
	shadowDropped      metric.Int64ObservableCounter
	shadowErrors       metric.Int64ObservableCounter
	shadowCompared     metric.Int64ObservableCounter
	shadowDisagreement metric.Float64ObservableGauge
	shadowAbsDiffMean  metric.Float64ObservableGauge
	shadowAbsDiffP99   metric.Float64ObservableGauge
	shadowLatencyDiff  metric.Float64ObservableGauge

	targetStatus metric.Int64ObservableGauge

	onDemand onDemandObservables
}

var (
	activePOST  = metric.WithAttributeSet(attribute.NewSet(semconvMethod("POST"), attrURLScheme))
	statePinned = metric.WithAttributeSet(attribute.NewSet(keyState.String("pinned")))
	stateCached = metric.WithAttributeSet(attribute.NewSet(keyState.String("cached")))
)

func (o *observables) create(m metric.Meter) error {
	var errs []error
	i64g := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	f64g := func(name, unit, desc string) metric.Float64ObservableGauge {
		g, err := m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	i64c := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	var err error
	o.active, err = m.Int64ObservableUpDownCounter("http.server.active_requests",
		metric.WithUnit("{request}"), metric.WithDescription("Number of active HTTP server requests."))
	errs = append(errs, err)
	o.versionsLoaded = i64g("mlgate.model.versions.loaded", "{version}",
		"Model versions loaded: pinned ones serve a route, cached ones are kept for a quick swap back.")
	o.modelBytes = i64g("mlgate.model.bytes", "By", "Size of the loaded model versions' model files.")
	o.sessions = i64g("mlgate.onnxruntime.sessions", "{session}",
		"ONNX Runtime sessions alive, retired ones still finishing requests included.")
	o.staleness = f64g("mlgate.registry.staleness", "s",
		"Time since the registry last confirmed what a watched model URI points at.")
	o.stale = i64g("mlgate.registry.stale", "",
		"1 while the version serving a model URI may no longer be what the registry says (registry unreachable, alias missing, serving from cache), else 0.")
	o.swaps = i64c("mlgate.model.swaps", "{swap}", "Version swaps of a watched model URI.")
	o.reloadFailures = i64c("mlgate.model.reload.failures", "{failure}",
		"Failed attempts to download or load a new version of a watched model URI.")
	o.shadowSampled = i64c("mlgate.shadow.sampled", "{request}", "Requests sampled for the route's shadow model.")
	o.shadowDropped = i64c("mlgate.shadow.dropped", "{request}", "Sampled requests dropped because the shadow queue was full.")
	o.shadowErrors = i64c("mlgate.shadow.errors", "{request}", "Sampled requests the shadow model failed.")
	o.shadowCompared = i64c("mlgate.shadow.compared", "{request}", "Sampled requests whose shadow answer was compared with the primary's.")
	o.shadowDisagreement = f64g("mlgate.shadow.disagreement", "1",
		"Share of an output's compared values on which the shadow disagrees with the primary.")
	o.shadowAbsDiffMean = f64g("mlgate.shadow.abs_diff.mean", "",
		"Mean absolute difference between the shadow's and the primary's values of a numeric output.")
	o.shadowAbsDiffP99 = f64g("mlgate.shadow.abs_diff.p99", "",
		"99th percentile of the absolute difference between the shadow's and the primary's values of a numeric output.")
	o.shadowLatencyDiff = f64g("mlgate.shadow.latency.diff", "s",
		"Mean latency of the shadow model minus the primary's, on the same requests.")
	o.targetStatus = i64g("mlgate.target.serving_status", "",
		"1 for the serving status of a route's target (current: it serves the version the registry names), 0 for every other status.")
	return errors.Join(errs...)
}

// RegisterObservers registers the callback that reports src through ins's
// observable instruments at each collection. Call it once, after the
// sources exist; Unregister the returned registration before the sources
// go away. Registering twice reports every series twice.
func RegisterObservers(ins *Instruments, src Sources) (metric.Registration, error) {
	o := &ins.obs
	return ins.meter.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		o.observe(ob, src)
		return nil
	},
		o.active, o.versionsLoaded, o.modelBytes, o.sessions, o.staleness, o.stale, o.swaps, o.reloadFailures,
		o.shadowSampled, o.shadowDropped, o.shadowErrors, o.shadowCompared,
		o.shadowDisagreement, o.shadowAbsDiffMean, o.shadowAbsDiffP99, o.shadowLatencyDiff, o.targetStatus,
		o.onDemand.requests, o.onDemand.loads, o.onDemand.evictions, o.onDemand.models, o.onDemand.bytes, o.onDemand.budget,
	)
}

func (o *observables) observe(ob metric.Observer, src Sources) {
	if src.ActiveRequests != nil {
		ob.ObserveInt64(o.active, src.ActiveRequests(), activePOST)
	}
	if src.LoadedVersions != nil {
		versions, pinned, bytes := src.LoadedVersions()
		ob.ObserveInt64(o.versionsLoaded, pinned, statePinned)
		ob.ObserveInt64(o.versionsLoaded, versions-pinned, stateCached)
		ob.ObserveInt64(o.modelBytes, bytes)
	}
	if src.LiveSessions != nil {
		ob.ObserveInt64(o.sessions, src.LiveSessions())
	}
	if src.Staleness != nil {
		for _, s := range src.Staleness() {
			at := metric.WithAttributeSet(attribute.NewSet(keyURI.String(s.URI)))
			ob.ObserveFloat64(o.staleness, s.Seconds, at)
			var stale int64
			if s.Stale {
				stale = 1
			}
			ob.ObserveInt64(o.stale, stale, at)
		}
	}
	if src.Swaps != nil {
		for _, c := range src.Swaps() {
			at := metric.WithAttributeSet(attribute.NewSet(keyURI.String(c.URI)))
			ob.ObserveInt64(o.swaps, c.Swaps, at)
			ob.ObserveInt64(o.reloadFailures, c.Failures, at)
		}
	}
	if src.Shadow != nil {
		for _, s := range src.Shadow() {
			o.observeShadow(ob, s)
		}
	}
	if src.OnDemand != nil {
		o.onDemand.observe(ob, src.OnDemand())
	}
	if src.Targets != nil {
		for _, t := range src.Targets() {
			route, target := keyRoute.String(t.Route), keyTarget.String(t.Target)
			for _, status := range src.TargetStatuses {
				var v int64
				if status == t.Status {
					v = 1
				}
				ob.ObserveInt64(o.targetStatus, v, metric.WithAttributeSet(attribute.NewSet(route, target, keyStatus.String(status))))
			}
		}
	}
}

func (o *observables) observeShadow(ob metric.Observer, s ShadowFigures) {
	route, shadow := keyRoute.String(s.Route), keyShadow.String(s.ShadowURI)
	at := metric.WithAttributeSet(attribute.NewSet(route, shadow))
	ob.ObserveInt64(o.shadowSampled, s.Sampled, at)
	ob.ObserveInt64(o.shadowDropped, s.Dropped, at)
	ob.ObserveInt64(o.shadowErrors, s.Errors, at)
	ob.ObserveInt64(o.shadowCompared, s.Compared, at)
	if s.Compared > 0 {
		ob.ObserveFloat64(o.shadowLatencyDiff, s.MeanLatencyDiffSeconds, at)
	}
	for _, out := range s.Outputs {
		if out.Values == 0 {
			continue
		}
		at := metric.WithAttributeSet(attribute.NewSet(route, shadow, keyOutput.String(out.Output)))
		ob.ObserveFloat64(o.shadowDisagreement, float64(out.Disagreements)/float64(out.Values), at)
		if out.Numeric {
			ob.ObserveFloat64(o.shadowAbsDiffMean, out.MeanAbsDiff, at)
			ob.ObserveFloat64(o.shadowAbsDiffP99, out.P99AbsDiff, at)
		}
	}
}
