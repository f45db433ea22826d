package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// OnDemandFigures are the registry routes' figures: models loaded on
// demand and the memory budget over everything loaded.
type OnDemandFigures struct {
	// Hits are registry-route requests that found their model loaded;
	// Misses waited for a load (cold starts).
	Hits, Misses int64
	// Loads are on-demand loads that succeeded, Failures those that did
	// not (not registered, failed to load, no room).
	Loads, Failures int64
	// Evictions unloaded a model to make room; IdleUnloads unloaded one
	// not requested for the idle time.
	Evictions, IdleUnloads int64
	// Models loaded on demand now.
	Models int64
	// LoadedBytes is what every loaded version is accounted at
	// (configured and on demand); BudgetBytes the budget, 0 for none.
	LoadedBytes, BudgetBytes int64
}

// onDemandObservables are the registry routes' callback instruments.
type onDemandObservables struct {
	requests  metric.Int64ObservableCounter
	loads     metric.Int64ObservableCounter
	evictions metric.Int64ObservableCounter
	models    metric.Int64ObservableGauge
	bytes     metric.Int64ObservableGauge
	budget    metric.Int64ObservableGauge
}

var (
	resultHit    = metric.WithAttributeSet(attribute.NewSet(keyResult.String("hit")))
	resultMiss   = metric.WithAttributeSet(attribute.NewSet(keyResult.String("miss")))
	outcomeOK    = metric.WithAttributeSet(attribute.NewSet(keyOutcome.String("ok")))
	outcomeError = metric.WithAttributeSet(attribute.NewSet(keyOutcome.String("error")))
	reasonBudget = metric.WithAttributeSet(attribute.NewSet(keyReason.String("budget")))
	reasonIdle   = metric.WithAttributeSet(attribute.NewSet(keyReason.String("idle")))
	keyResult    = attribute.Key("result")
	coldBuckets  = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
)

func (o *onDemandObservables) create(m metric.Meter) error {
	var errs [6]error
	o.requests, errs[0] = m.Int64ObservableCounter("mlgate.ondemand.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Requests through a registry route, by result: hit (the model was loaded) or miss (they waited for a load)."))
	o.loads, errs[1] = m.Int64ObservableCounter("mlgate.ondemand.loads", metric.WithUnit("{load}"),
		metric.WithDescription("Models loaded on demand for a registry route, by outcome."))
	o.evictions, errs[2] = m.Int64ObservableCounter("mlgate.ondemand.evictions", metric.WithUnit("{model}"),
		metric.WithDescription("Models loaded on demand and unloaded, by reason: budget (room for another) or idle."))
	o.models, errs[3] = m.Int64ObservableGauge("mlgate.ondemand.models", metric.WithUnit("{model}"),
		metric.WithDescription("Models loaded on demand now."))
	o.bytes, errs[4] = m.Int64ObservableGauge("mlgate.memory.loaded.bytes", metric.WithUnit("By"),
		metric.WithDescription("Memory accounted to every loaded model version, configured and on demand (measured resident growth at load, at least the model files)."))
	o.budget, errs[5] = m.Int64ObservableGauge("mlgate.memory.budget.bytes", metric.WithUnit("By"),
		metric.WithDescription("The memory budget over loaded model versions (--max-loaded-bytes); 0 for none."))
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (o *onDemandObservables) observe(ob metric.Observer, f OnDemandFigures) {
	ob.ObserveInt64(o.requests, f.Hits, resultHit)
	ob.ObserveInt64(o.requests, f.Misses, resultMiss)
	ob.ObserveInt64(o.loads, f.Loads, outcomeOK)
	ob.ObserveInt64(o.loads, f.Failures, outcomeError)
	ob.ObserveInt64(o.evictions, f.Evictions, reasonBudget)
	ob.ObserveInt64(o.evictions, f.IdleUnloads, reasonIdle)
	ob.ObserveInt64(o.models, f.Models)
	ob.ObserveInt64(o.bytes, f.LoadedBytes)
	ob.ObserveInt64(o.budget, f.BudgetBytes)
}

// RecordColdStart records how long a request waited for its registry
// route's model to load, and how the wait ended: "ok", "timeout" (503
// with Retry-After) or "error". It is for the cold path only.
func (ins *Instruments) RecordColdStart(ctx context.Context, d time.Duration, outcome string) {
	if ins == nil || ins.coldStart == nil {
		return
	}
	ins.coldStart.Record(ctx, d.Seconds(), metric.WithAttributeSet(attribute.NewSet(keyOutcome.String(outcome))))
}
