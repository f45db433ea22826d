package telemetry

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Descriptions of the series Instruments keeps itself.
const (
	requestsName        = "mlgate.requests"
	requestsDescription = "Scoring requests answered, by route, target, model version, status class and protocol. " +
		"Requests that name no route have route=\"(unknown)\"; those refused before a target was chosen have no target, model or version."
	inferName        = "mlgate.inference.duration"
	httpName         = "http.server.request.duration"
	httpDescription  = "Duration of HTTP server requests."
	inferDescription = "Time spent in the model (queueing, batching and ONNX Runtime), by route and model version."
	loadName         = "mlgate.model.load.duration"
	loadDescription  = "Time to load and warm up a model version, by outcome (ok or error)."
)

// keepLoads is how many of the most recent model loads keep their
// mlgate.model.load.duration series after their version stopped serving
// (or when it never did: a failed load).
const keepLoads = 16

// meterProvider is Telemetry's MeterProvider: the SDK's, plus the producer
// NewInstruments plugs the series it keeps into.
type meterProvider struct {
	metric.MeterProvider
	producer *producer
}

// producer hands the exporter what the Instruments made on Telemetry's
// provider keep; nothing before NewInstruments.
type producer struct{ ins atomic.Pointer[Instruments] }

var _ sdkmetric.Producer = (*producer)(nil)

func (p *producer) set(ins *Instruments) { p.ins.Store(ins) }

func (p *producer) Produce(ctx context.Context) ([]metricdata.ScopeMetrics, error) {
	ins := p.ins.Load()
	if ins == nil {
		return nil, nil
	}
	return ins.Producer().Produce(ctx)
}

// Producer returns the producer of the series Instruments keeps itself:
// mlgate.requests and mlgate.inference.duration of the live request
// recorders, and mlgate.model.load.duration of the versions serving and
// the most recent loads. Telemetry's exporter already has it.
func (ins *Instruments) Producer() sdkmetric.Producer { return insProducer{ins} }

type insProducer struct{ ins *Instruments }

func (p insProducer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	ms := p.ins.collect(p.ins.now())
	if len(ms) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: meterName}, Metrics: ms}}, nil
}

// collect reads the kept series at now.
func (ins *Instruments) collect(now time.Time) []metricdata.Metrics {
	ins.mu.Lock()
	defer ins.mu.Unlock()
	var reqs []metricdata.DataPoint[int64]
	var infer []metricdata.HistogramDataPoint[float64]
	byAttrs := map[attribute.Distinct]int{} // index in infer
	keys := make([]recorderKey, 0, len(ins.recorders))
	for k := range ins.recorders {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b recorderKey) int { return compareKeys(a, b) })
	for _, k := range keys {
		r := ins.recorders[k]
		for p := range r.classes {
			for i := range r.classes[p] {
				if n := r.classes[p][i].Load(); n > 0 {
					reqs = append(reqs, metricdata.DataPoint[int64]{Attributes: r.byClass[p][i], StartTime: r.start, Time: now, Value: n})
				}
			}
		}
		counts := make([]uint64, len(r.infer.buckets))
		var total uint64
		for i := range r.infer.buckets {
			counts[i] = uint64(r.infer.buckets[i].Load())
			total += counts[i]
		}
		if total == 0 {
			continue
		}
		sum := time.Duration(r.infer.sumNs.Load()).Seconds()
		// Two targets of a route serving the same version share the
		// series: add them up.
		if j, ok := byAttrs[r.duration.Equivalent()]; ok {
			dp := &infer[j]
			for i := range counts {
				dp.BucketCounts[i] += counts[i]
			}
			dp.Count += total
			dp.Sum += sum
			dp.StartTime = minTime(dp.StartTime, r.start)
			continue
		}
		byAttrs[r.duration.Equivalent()] = len(infer)
		infer = append(infer, metricdata.HistogramDataPoint[float64]{Attributes: r.duration, StartTime: r.start, Time: now,
			Count: total, Bounds: latencyBuckets[:], BucketCounts: counts, Sum: sum})
	}
	var out []metricdata.Metrics
	if len(reqs) > 0 {
		out = append(out, metricdata.Metrics{Name: requestsName, Description: requestsDescription, Unit: "{request}",
			Data: metricdata.Sum[int64]{DataPoints: reqs, Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}})
	}
	if len(infer) > 0 {
		out = append(out, metricdata.Metrics{Name: inferName, Description: inferDescription, Unit: "s",
			Data: metricdata.Histogram[float64]{DataPoints: infer, Temporality: metricdata.CumulativeTemporality}})
	}
	if h := ins.collectHTTP(now); len(h) > 0 {
		out = append(out, metricdata.Metrics{Name: httpName, Description: httpDescription, Unit: "s",
			Data: metricdata.Histogram[float64]{DataPoints: h, Temporality: metricdata.CumulativeTemporality}})
	}
	ins.pruneLoads()
	if len(ins.loads) > 0 {
		loads := make([]metricdata.HistogramDataPoint[float64], 0, len(ins.loads))
		for _, l := range ins.loads {
			loads = append(loads, metricdata.HistogramDataPoint[float64]{Attributes: l.attrs, StartTime: l.start, Time: now,
				Count: l.count, Bounds: loadBuckets, BucketCounts: slices.Clone(l.buckets), Sum: l.sum})
		}
		out = append(out, metricdata.Metrics{Name: loadName, Description: loadDescription, Unit: "s",
			Data: metricdata.Histogram[float64]{DataPoints: loads, Temporality: metricdata.CumulativeTemporality}})
	}
	return out
}

// collectHTTP reads the http.server.request.duration series recorded at
// least once. Called with ins.mu held.
func (ins *Instruments) collectHTTP(now time.Time) []metricdata.HistogramDataPoint[float64] {
	var out []metricdata.HistogramDataPoint[float64]
	for _, sr := range ins.httpSeries {
		counts := make([]uint64, len(sr.c.buckets))
		var total uint64
		for i := range sr.c.buckets {
			counts[i] = uint64(sr.c.buckets[i].Load())
			total += counts[i]
		}
		if total == 0 {
			continue
		}
		out = append(out, metricdata.HistogramDataPoint[float64]{Attributes: sr.attrs, StartTime: sr.start, Time: now,
			Count: total, Bounds: latencyBuckets[:], BucketCounts: counts, Sum: time.Duration(sr.c.sumNs.Load()).Seconds()})
	}
	return out
}

func compareKeys(a, b recorderKey) int {
	for _, c := range [][2]string{{a.route, b.route}, {a.target, b.target}, {a.model, b.model}, {a.version, b.version}} {
		switch {
		case c[0] < c[1]:
			return -1
		case c[0] > c[1]:
			return 1
		}
	}
	return 0
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// loadSeries is one (model, version, outcome) of mlgate.model.load.duration.
type loadSeries struct {
	name, version string
	attrs         attribute.Set
	start         time.Time
	buckets       []uint64
	count         uint64
	sum           float64
}

// RecordModelLoad records how long loading and warming up a model version
// took, and whether it succeeded (err == nil). Its series stays while the
// version serves (has a request recorder) or is among the 16 most recent
// loads. It allocates; it is meant for the load path, not the request
// path.
func (ins *Instruments) RecordModelLoad(_ context.Context, modelName, modelVersion string, d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	attrs := attribute.NewSet(keyModelName.String(modelName), keyModelVersion.String(modelVersion), keyOutcome.String(outcome))
	ins.mu.Lock()
	defer ins.mu.Unlock()
	var l *loadSeries
	if i := slices.IndexFunc(ins.loads, func(l *loadSeries) bool { return l.attrs.Equals(&attrs) }); i >= 0 {
		l = ins.loads[i]
		ins.loads = slices.Delete(ins.loads, i, i+1)
	} else {
		l = &loadSeries{name: modelName, version: modelVersion, attrs: attrs, start: ins.now(),
			buckets: make([]uint64, len(loadBuckets)+1)}
	}
	secs := d.Seconds()
	i := 0
	for i < len(loadBuckets) && secs > loadBuckets[i] {
		i++
	}
	l.buckets[i]++
	l.count++
	l.sum += secs
	ins.loads = append(ins.loads, l) // most recent last
	ins.pruneLoads()
}

// pruneLoads forgets the load series of versions that do not serve,
// beyond the keepLoads most recent. Called with ins.mu held.
func (ins *Instruments) pruneLoads() {
	if len(ins.loads) <= keepLoads {
		return
	}
	serving := map[[2]string]bool{}
	for k := range ins.recorders {
		serving[[2]string{k.model, k.version}] = true
	}
	recent := len(ins.loads) - keepLoads
	kept := ins.loads[:0]
	for i, l := range ins.loads {
		if i >= recent || serving[[2]string{l.name, l.version}] {
			kept = append(kept, l)
		}
	}
	clear(ins.loads[len(kept):])
	ins.loads = kept
}
