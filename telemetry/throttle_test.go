package telemetry

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
)

// captureHandler keeps every record it handles.
type captureHandler struct {
	level slog.Level
	mu    *sync.Mutex
	recs  *[]slog.Record
}

func newCapture(level slog.Level) *captureHandler {
	return &captureHandler{level: level, mu: &sync.Mutex{}, recs: &[]slog.Record{}}
}

func (h *captureHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, r.Clone())
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

func (h *captureHandler) records() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), *h.recs...)
}

// attrsOf returns a record's attributes by key, and how often each key
// appears.
func attrsOf(r slog.Record) (map[string]slog.Value, map[string]int) {
	vals, n := map[string]slog.Value{}, map[string]int{}
	r.Attrs(func(a slog.Attr) bool {
		vals[a.Key] = a.Value
		n[a.Key]++
		return true
	})
	return vals, n
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// suppressedCounter returns mlgate.log.suppressed on a manual reader, and
// a func reading its value per key.
func suppressedCounter(t *testing.T) (*Instruments, func() map[string]int64) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	ins, err := NewInstruments(mp)
	if err != nil {
		t.Fatalf("NewInstruments: %v", err)
	}
	return ins, func() map[string]int64 {
		t.Helper()
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatalf("Collect: %v", err)
		}
		out := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name != "mlgate.log.suppressed" {
					continue
				}
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					k, _ := dp.Attributes.Value(keyLogKey)
					out[k.AsString()] = dp.Value
				}
			}
		}
		return out
	}
}

func TestThrottleEmitsOnePerIntervalAndCountsTheRest(t *testing.T) {
	ins, suppressed := suppressedCounter(t)
	h := newCapture(slog.LevelInfo)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := &fakeClock{now: t0}
	th := NewThrottle(slog.New(h), time.Second, ins.LogSuppressed(), WithClock(clock.Now))

	ctx := context.Background()
	steps := []struct {
		at  time.Duration
		key string
	}{
		{0, "a"},                       // emitted
		{100 * time.Millisecond, "a"},  // suppressed
		{200 * time.Millisecond, "b"},  // emitted: keys are independent
		{500 * time.Millisecond, "a"},  // suppressed
		{999 * time.Millisecond, "a"},  // suppressed
		{time.Second, "a"},             // emitted, suppressed=3
		{1100 * time.Millisecond, "b"}, // suppressed
		{1500 * time.Millisecond, "a"}, // suppressed
		{5 * time.Second, "a"},         // emitted, suppressed=1
		{6 * time.Second, "a"},         // emitted, none suppressed
		{7 * time.Second, "b"},         // emitted, suppressed=1
	}
	for i, s := range steps {
		clock.Set(t0.Add(s.at))
		th.Log(ctx, slog.LevelError, s.key, "predict failed", slog.String("route", s.key), slog.Int("step", i))
	}

	type emitted struct {
		key        string
		step       int64
		suppressed int64 // -1: no attribute
		at         time.Duration
	}
	want := []emitted{
		{"a", 0, -1, 0}, {"b", 2, -1, 200 * time.Millisecond}, {"a", 5, 3, time.Second},
		{"a", 8, 1, 5 * time.Second}, {"a", 9, -1, 6 * time.Second}, {"b", 10, 1, 7 * time.Second},
	}
	recs := h.records()
	if len(recs) != len(want) {
		t.Fatalf("got %d records; want %d", len(recs), len(want))
	}
	for i, r := range recs {
		vals, _ := attrsOf(r)
		got := emitted{key: vals["route"].String(), step: vals["step"].Int64(), suppressed: -1, at: r.Time.Sub(t0)}
		if v, ok := vals["suppressed"]; ok {
			got.suppressed = v.Int64()
		}
		if got != want[i] {
			t.Errorf("record %d: got %+v; want %+v", i, got, want[i])
		}
		if r.Message != "predict failed" || r.Level != slog.LevelError {
			t.Errorf("record %d: got %v %q; want ERROR \"predict failed\"", i, r.Level, r.Message)
		}
		if _, ok := vals["trace_id"]; ok {
			t.Errorf("record %d has trace_id without a span in the context", i)
		}
	}
	if got := suppressed(); got["a"] != 4 || got["b"] != 1 || len(got) != 2 {
		t.Errorf("mlgate.log.suppressed = %v; want map[a:4 b:1]", got)
	}
}

func TestThrottleSourceIsTheCaller(t *testing.T) {
	h := newCapture(slog.LevelInfo)
	th := NewThrottle(slog.New(h), time.Second, nil)
	th.Log(context.Background(), slog.LevelWarn, "k", "m")
	recs := h.records()
	if len(recs) != 1 {
		t.Fatalf("got %d records; want 1", len(recs))
	}
	if fn := recs[0].Source().Function; fn != "github.com/mlgate/mlgate/telemetry.TestThrottleSourceIsTheCaller" {
		t.Errorf("record source function = %q; want the test function", fn)
	}
}

func TestThrottleIgnoresDisabledLevels(t *testing.T) {
	ins, suppressed := suppressedCounter(t)
	h := newCapture(slog.LevelWarn)
	th := NewThrottle(slog.New(h), time.Hour, ins.LogSuppressed())
	ctx := context.Background()
	for range 3 {
		th.Log(ctx, slog.LevelDebug, "k", "debug noise")
	}
	th.Log(ctx, slog.LevelWarn, "k", "first warning")
	if recs := h.records(); len(recs) != 1 || recs[0].Message != "first warning" {
		t.Errorf("got %d records; want only \"first warning\"", len(recs))
	}
	if got := suppressed(); len(got) != 0 {
		t.Errorf("mlgate.log.suppressed = %v; want nothing counted for disabled levels", got)
	}
}

func TestThrottleZeroIntervalSuppressesNothing(t *testing.T) {
	h := newCapture(slog.LevelInfo)
	clock := &fakeClock{now: time.Unix(0, 0)}
	th := NewThrottle(slog.New(h), 0, nil, WithClock(clock.Now))
	for range 5 {
		th.Log(context.Background(), slog.LevelInfo, "k", "m")
	}
	if got := len(h.records()); got != 5 {
		t.Errorf("got %d records; want 5", got)
	}
}

func TestThrottleConcurrentCallsAreAllAccountedFor(t *testing.T) {
	ins, suppressed := suppressedCounter(t)
	h := newCapture(slog.LevelInfo)
	clock := &fakeClock{now: time.Unix(1000, 0)}
	th := NewThrottle(slog.New(h), time.Minute, ins.LogSuppressed(), WithClock(clock.Now))
	const goroutines, each = 8, 250
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				th.Log(context.Background(), slog.LevelError, "hot", "m")
			}
		})
	}
	wg.Wait()
	if got := len(h.records()); got != 1 {
		t.Errorf("got %d records; want 1", got)
	}
	if got := suppressed()["hot"]; got != goroutines*each-1 {
		t.Errorf("mlgate.log.suppressed{key=hot} = %d; want %d", got, goroutines*each-1)
	}
}

// spanContext returns a context carrying a fixed sampled span context.
func spanContext(t *testing.T) (context.Context, trace.SpanContext) {
	t.Helper()
	tid, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(context.Background(), sc), sc
}

func TestThrottleAddsTraceIDs(t *testing.T) {
	ctx, sc := spanContext(t)
	for _, tt := range []struct {
		name    string
		wrapped bool
	}{{"plain handler", false}, {"handler WithTraceIDs", true}} {
		t.Run(tt.name, func(t *testing.T) {
			h := newCapture(slog.LevelInfo)
			var handler slog.Handler = h
			if tt.wrapped {
				handler = WithTraceIDs(h)
			}
			th := NewThrottle(slog.New(handler), time.Second, nil)
			th.Log(ctx, slog.LevelError, "k", "m")
			recs := h.records()
			if len(recs) != 1 {
				t.Fatalf("got %d records; want 1", len(recs))
			}
			vals, n := attrsOf(recs[0])
			if vals["trace_id"].String() != sc.TraceID().String() || vals["span_id"].String() != sc.SpanID().String() {
				t.Errorf("got trace_id=%v span_id=%v; want %s %s", vals["trace_id"], vals["span_id"], sc.TraceID(), sc.SpanID())
			}
			if n["trace_id"] != 1 || n["span_id"] != 1 {
				t.Errorf("trace_id appears %d times, span_id %d; want once each", n["trace_id"], n["span_id"])
			}
		})
	}
}
