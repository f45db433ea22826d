package telemetry

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// meterName is the instrumentation scope of every mlgate instrument.
const meterName = "github.com/mlgate/mlgate"

// Attribute keys of mlgate's own instruments. The HTTP ones follow
// OpenTelemetry's semantic conventions.
const (
	keyRoute        = attribute.Key("route")
	keyTarget       = attribute.Key("target")
	keyModelName    = attribute.Key("model.name")
	keyModelVersion = attribute.Key("model.version")
	keyStatusClass  = attribute.Key("status_class")
	keyReason       = attribute.Key("reason")
	keyOutcome      = attribute.Key("outcome")
	keyURI          = attribute.Key("uri")
	keyLogKey       = attribute.Key("key")
	keyState        = attribute.Key("state")
	keyShadow       = attribute.Key("shadow")
	keyOutput       = attribute.Key("output")
)

// latencyBuckets are the bucket boundaries, in seconds, of the request and
// inference duration histograms: 50µs to 10s, about three per decade.
var latencyBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// loadBuckets are the bucket boundaries, in seconds, of the model load
// histogram: 10ms to 10 minutes.
var loadBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Instruments holds every instrument mlgate records. It is created once,
// at start, by NewInstruments; request paths record through the
// recorders it makes (NewRequestRecorder, HTTPRoute), whose attribute sets
// are prepared in advance so that recording allocates nothing. It is safe
// for concurrent use.
type Instruments struct {
	meter metric.Meter

	httpDuration  metric.Float64Histogram
	requests      metric.Int64Counter
	inferDuration metric.Float64Histogram
	rejected      metric.Int64Counter
	loadDuration  metric.Float64Histogram
	logSuppressed metric.Int64Counter

	obs observables

	mu         sync.Mutex
	httpRoutes map[string]*HTTPRoute // by http.route
}

// NewInstruments creates mlgate's instruments on mp (nil means a no-op
// provider). Call it once per MeterProvider: instruments created twice
// on one provider would report the same series twice.
func NewInstruments(mp metric.MeterProvider) (*Instruments, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter(meterName)
	ins := &Instruments{meter: m, httpRoutes: map[string]*HTTPRoute{}}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error

	ins.httpDuration, err = m.Float64Histogram("http.server.request.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests."),
		metric.WithExplicitBucketBoundaries(latencyBuckets...))
	check(err)
	ins.requests, err = m.Int64Counter("mlgate.requests",
		metric.WithUnit("{request}"),
		metric.WithDescription("Scoring requests answered, by route, target, model version and status class."))
	check(err)
	ins.inferDuration, err = m.Float64Histogram("mlgate.inference.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Time spent in the model (queueing, batching and ONNX Runtime), by route and model version."),
		metric.WithExplicitBucketBoundaries(latencyBuckets...))
	check(err)
	ins.rejected, err = m.Int64Counter("mlgate.admission.rejected",
		metric.WithUnit("{request}"),
		metric.WithDescription("Scoring requests refused because a limit was reached, by route and reason (concurrency or queue)."))
	check(err)
	ins.loadDuration, err = m.Float64Histogram("mlgate.model.load.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Time to load and warm up a model version, by outcome (ok or error)."),
		metric.WithExplicitBucketBoundaries(loadBuckets...))
	check(err)
	ins.logSuppressed, err = m.Int64Counter("mlgate.log.suppressed",
		metric.WithUnit("{record}"),
		metric.WithDescription("Log records suppressed by throttling, by throttle key."))
	check(err)
	check(ins.obs.create(m))
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ins, nil
}

// RecordModelLoad records how long loading and warming up a model version
// took, and whether it succeeded (err == nil). It allocates; it is meant
// for the load path, not the request path.
func (ins *Instruments) RecordModelLoad(ctx context.Context, modelName, modelVersion string, d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	ins.loadDuration.Record(ctx, d.Seconds(), metric.WithAttributes(
		keyModelName.String(modelName), keyModelVersion.String(modelVersion), keyOutcome.String(outcome)))
}

// LogSuppressed returns the mlgate.log.suppressed counter, for NewThrottle.
func (ins *Instruments) LogSuppressed() metric.Int64Counter { return ins.logSuppressed }
