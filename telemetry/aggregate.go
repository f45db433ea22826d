package telemetry

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The instruments recorded on every request. They are aggregated by
// requestMetrics, not by the OpenTelemetry SDK: recording one is a few
// atomic adds on a series prepared in advance, where the SDK looks the
// attribute set up in a map under a lock per measurement (about a
// microsecond for the three of them).
var (
	requestsDesc = instrumentDesc{name: "mlgate.requests", unit: "{request}",
		description: "Scoring requests answered, by route, target, model version and status class."}
	inferDesc = instrumentDesc{name: "mlgate.inference.duration", unit: "s",
		description: "Time spent in the model (queueing, batching and ONNX Runtime), by route and model version."}
	httpDurationDesc = instrumentDesc{name: "http.server.request.duration", unit: "s",
		description: "Duration of HTTP server requests."}
)

type instrumentDesc struct{ name, unit, description string }

// requestMetrics aggregates the per-request instruments in memory and
// hands them, cumulative since each series was first recorded, to the
// readers it is registered with as an sdkmetric.Producer. A series is made
// once, when a recorder is built or first sees a (method, status code)
// pair; recording into it takes atomic operations only and allocates
// nothing. It is safe for concurrent use.
type requestMetrics struct {
	mu       sync.Mutex
	requests seriesSet[counter]
	infer    seriesSet[histogram]
	http     seriesSet[histogram]
}

var _ sdkmetric.Producer = (*requestMetrics)(nil)

func newRequestMetrics() *requestMetrics {
	return &requestMetrics{}
}

// counter is a monotonic sum.
type counter struct{ n atomic.Int64 }

// histogram is an explicit-bucket histogram of durations over
// latencyBuckets, with OpenTelemetry's bucket rule: bucket i holds the
// values in (bound[i-1], bound[i]], the last one those above every bound.
type histogram struct {
	counts   [len(latencyBuckets) + 1]atomic.Uint64
	sumNanos atomic.Int64
	min, max atomic.Int64
}

// latencyBoundNanos are latencyBuckets in nanoseconds.
var latencyBoundNanos = func() (b [len(latencyBuckets)]int64) {
	for i, s := range latencyBuckets {
		b[i] = int64(math.Round(s * 1e9))
	}
	return b
}()

func (h *histogram) init() {
	h.min.Store(math.MaxInt64)
	h.max.Store(math.MinInt64)
}

// record adds one duration.
func (h *histogram) record(d time.Duration) {
	ns := int64(d)
	i := 0
	for i < len(latencyBoundNanos) && ns > latencyBoundNanos[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNanos.Add(ns)
	for m := h.min.Load(); ns < m && !h.min.CompareAndSwap(m, ns); m = h.min.Load() {
	}
	for m := h.max.Load(); ns > m && !h.max.CompareAndSwap(m, ns); m = h.max.Load() {
	}
}

// aggregate is one attribute set of an instrument and its aggregate.
type aggregate[T any] struct {
	attrs attribute.Set
	start time.Time
	agg   T
}

// seriesSet holds an instrument's series, one per attribute set, in the
// order they were made.
type seriesSet[T any] struct {
	byAttrs map[attribute.Distinct]*aggregate[T]
	list    []*aggregate[T]
}

// get returns the series of attrs, making it if needed. Called with
// requestMetrics.mu held.
func (s *seriesSet[T]) get(attrs attribute.Set, init func(*T)) *aggregate[T] {
	if sr, ok := s.byAttrs[attrs.Equivalent()]; ok {
		return sr
	}
	if s.byAttrs == nil {
		s.byAttrs = map[attribute.Distinct]*aggregate[T]{}
	}
	sr := &aggregate[T]{attrs: attrs, start: time.Now()}
	if init != nil {
		init(&sr.agg)
	}
	s.byAttrs[attrs.Equivalent()] = sr
	s.list = append(s.list, sr)
	return sr
}

func (m *requestMetrics) counter(s *seriesSet[counter], attrs attribute.Set) *counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &s.get(attrs, nil).agg
}

func (m *requestMetrics) histogram(s *seriesSet[histogram], attrs attribute.Set) *histogram {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &s.get(attrs, (*histogram).init).agg
}

// Produce returns every series recorded at least once, as the SDK would
// report the same instruments with cumulative temporality.
func (m *requestMetrics) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	m.mu.Lock()
	requests, infer, http := slices.Clone(m.requests.list), slices.Clone(m.infer.list), slices.Clone(m.http.list)
	m.mu.Unlock()
	now := time.Now()
	var out []metricdata.Metrics
	if sum := produceSum(requests, now); len(sum.DataPoints) > 0 {
		out = append(out, requestsDesc.metrics(sum))
	}
	if h := produceHistogram(infer, now); len(h.DataPoints) > 0 {
		out = append(out, inferDesc.metrics(h))
	}
	if h := produceHistogram(http, now); len(h.DataPoints) > 0 {
		out = append(out, httpDurationDesc.metrics(h))
	}
	if len(out) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: meterName}, Metrics: out}}, nil
}

func (d instrumentDesc) metrics(data metricdata.Aggregation) metricdata.Metrics {
	return metricdata.Metrics{Name: d.name, Description: d.description, Unit: d.unit, Data: data}
}

func produceSum(list []*aggregate[counter], now time.Time) metricdata.Sum[int64] {
	sum := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
	for _, s := range list {
		if v := s.agg.n.Load(); v > 0 {
			sum.DataPoints = append(sum.DataPoints, metricdata.DataPoint[int64]{
				Attributes: s.attrs, StartTime: s.start, Time: now, Value: v})
		}
	}
	return sum
}

func produceHistogram(list []*aggregate[histogram], now time.Time) metricdata.Histogram[float64] {
	h := metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality}
	for _, s := range list {
		a := &s.agg
		dp := metricdata.HistogramDataPoint[float64]{
			Attributes: s.attrs, StartTime: s.start, Time: now,
			Bounds: latencyBuckets[:], BucketCounts: make([]uint64, len(a.counts)),
		}
		for i := range a.counts {
			dp.BucketCounts[i] = a.counts[i].Load()
			dp.Count += dp.BucketCounts[i]
		}
		if dp.Count == 0 {
			continue
		}
		dp.Sum = seconds(a.sumNanos.Load())
		dp.Min = metricdata.NewExtrema(seconds(a.min.Load()))
		dp.Max = metricdata.NewExtrema(seconds(a.max.Load()))
		h.DataPoints = append(h.DataPoints, dp)
	}
	return h
}

func seconds(ns int64) float64 { return time.Duration(ns).Seconds() }
