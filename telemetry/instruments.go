package telemetry

import (
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
	keyProtocol     = attribute.Key("protocol")
	keyReason       = attribute.Key("reason")
	keyOutcome      = attribute.Key("outcome")
	keyURI          = attribute.Key("uri")
	keyLogKey       = attribute.Key("key")
	keyState        = attribute.Key("state")
	keyShadow       = attribute.Key("shadow")
	keyOutput       = attribute.Key("output")
	keyStatus       = attribute.Key("status")
)

// latencyBuckets are the bucket boundaries, in seconds, of the request and
// inference duration histograms: 50µs to 10s, about three per decade.
var latencyBuckets = [...]float64{
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
//
// The series labelled with a model version (mlgate.requests,
// mlgate.inference.duration, mlgate.model.load.duration) are kept by
// Instruments itself rather than by the SDK's synchronous instruments,
// which never forget an attribute set: they are handed to the reader by
// Producer at each collection, and a version's series go when it is
// retired (see RequestRecorder.Release and RecordModelLoad).
// http.server.request.duration is kept the same way, for the cost of
// recording (atomic adds rather than the SDK's lookup under a lock); its
// series are never dropped.
type Instruments struct {
	meter metric.Meter
	now   func() time.Time

	rejected      metric.Int64Counter
	logSuppressed metric.Int64Counter
	coldStart     metric.Float64Histogram

	obs observables

	mu         sync.Mutex
	httpRoutes map[string]*HTTPRoute // by http.route
	// recorders are the live request recorders; retired those released
	// in the last 15 minutes, oldest first.
	recorders map[recorderKey]*RequestRecorder
	retired   []*RequestRecorder
	// loads are the model load durations kept (see RecordModelLoad).
	loads []*loadSeries
	// httpSeries are the series of http.server.request.duration, in the
	// order they were first recorded.
	httpSeries []*httpSeries
}

// NewInstruments creates mlgate's instruments on mp (nil means a no-op
// provider). Call it once per MeterProvider: instruments created twice
// on one provider would report the same series twice. On the provider of
// a Telemetry the series Instruments keeps itself reach /metrics; on
// another, pass Producer to its reader (sdkmetric.WithProducer).
func NewInstruments(mp metric.MeterProvider) (*Instruments, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	ins := &Instruments{now: time.Now, httpRoutes: map[string]*HTTPRoute{}, recorders: map[recorderKey]*RequestRecorder{}}
	if p, ok := mp.(*meterProvider); ok {
		p.producer.set(ins)
		mp = p.MeterProvider
	}
	m := mp.Meter(meterName)
	ins.meter = m
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error

	ins.rejected, err = m.Int64Counter("mlgate.admission.rejected",
		metric.WithUnit("{request}"),
		metric.WithDescription("Scoring requests refused because a limit was reached, by route and reason (concurrency or queue)."))
	check(err)
	ins.logSuppressed, err = m.Int64Counter("mlgate.log.suppressed",
		metric.WithUnit("{record}"),
		metric.WithDescription("Log records suppressed by throttling, by throttle key."))
	check(err)
	ins.coldStart, err = m.Float64Histogram("mlgate.ondemand.cold_start.duration", metric.WithUnit("s"),
		metric.WithDescription("Time a request through a registry route waited for its model to load, by outcome (ok, timeout, error)."),
		metric.WithExplicitBucketBoundaries(coldBuckets...))
	check(err)
	check(ins.obs.create(m))
	check(ins.obs.onDemand.create(m))
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ins, nil
}

// LogSuppressed returns the mlgate.log.suppressed counter, for NewThrottle.
func (ins *Instruments) LogSuppressed() metric.Int64Counter { return ins.logSuppressed }
