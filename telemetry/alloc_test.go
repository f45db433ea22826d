package telemetry

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// TestRequestPathDoesNotAllocate holds the recording calls mlgate makes
// per request to zero allocations, on the SDK meter provider with the
// Prometheus reader that serves /metrics, with and without a sampled span
// in the context (exemplars are offered then).
func TestRequestPathDoesNotAllocate(t *testing.T) {
	tel := newTestTelemetry(t, nil)
	ins, err := NewInstruments(tel.MeterProvider())
	if err != nil {
		t.Fatalf("NewInstruments: %v", err)
	}
	rec := ins.NewRequestRecorder("churn", "champion", "churn-gbm", "1")
	ping := ins.HTTPRoute("/ping")
	th := NewThrottle(slog.New(slog.NewJSONHandler(io.Discard, nil)), time.Hour, ins.LogSuppressed())

	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	spanCtx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	if !span.SpanContext().IsSampled() {
		t.Fatal("test span is not sampled")
	}

	route := "churn"
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"background", context.Background()}, {"sampled span", spanCtx}} {
		ctx := c.ctx
		th.Log(ctx, slog.LevelError, "predict/churn", "first one is written")
		calls := []struct {
			name string
			fn   func()
		}{
			{"RequestRecorder.Done 200", func() { rec.Done(ctx, 200, "POST", 3*time.Millisecond, 2*time.Millisecond) }},
			{"RequestRecorder.Done 400", func() { rec.Done(ctx, 400, "POST", 100*time.Microsecond, 0) }},
			{"RequestRecorder.Done 503", func() { rec.Done(ctx, 503, "POST", time.Second, time.Second) }},
			{"RequestRecorder.Rejected", func() { rec.Rejected(ctx, RejectQueue) }},
			{"HTTPRoute.Record", func() { ping.Record(ctx, "GET", 200, time.Microsecond) }},
			{"Throttle.Log suppressed", func() {
				th.Log(ctx, slog.LevelError, "predict/churn", "suppressed", slog.String("route", route), slog.Int("status", 503))
			}},
		}
		for _, call := range calls {
			if got := testing.AllocsPerRun(200, call.fn); got != 0 {
				t.Errorf("%s, %s context: got %v allocs/op; want 0", call.name, c.name, got)
			}
		}
	}
}

func BenchmarkRequestRecorderDone(b *testing.B) {
	tel, err := New(context.Background(), Config{Getenv: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	ins, err := NewInstruments(tel.MeterProvider())
	if err != nil {
		b.Fatal(err)
	}
	rec := ins.NewRequestRecorder("churn", "champion", "churn-gbm", "1")
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec.Done(ctx, 200, "POST", 3*time.Millisecond, 2*time.Millisecond)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rec.Done(ctx, 200, "POST", 3*time.Millisecond, 2*time.Millisecond)
			}
		})
	})
	// What Done did before the recorder kept its own counts: the SDK's
	// synchronous counter and histograms, with prepared attribute sets.
	b.Run("sdk instruments", func(b *testing.B) {
		counter, err := ins.meter.Int64Counter("bench.requests")
		if err != nil {
			b.Fatal(err)
		}
		hist, err := ins.meter.Float64Histogram("bench.inference", metric.WithExplicitBucketBoundaries(latencyBuckets[:]...))
		if err != nil {
			b.Fatal(err)
		}
		add := []metric.AddOption{metric.WithAttributeSet(rec.byClass[ProtocolMLflow][1])}
		rec2 := []metric.RecordOption{metric.WithAttributeSet(rec.duration)}
		b.ReportAllocs()
		for b.Loop() {
			counter.Add(ctx, 1, add...)
			hist.Record(ctx, 0.002, rec2...)
			hist.Record(ctx, 0.003, rec2...)
		}
	})
}

func BenchmarkThrottleSuppressed(b *testing.B) {
	tel, err := New(context.Background(), Config{Getenv: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	ins, err := NewInstruments(tel.MeterProvider())
	if err != nil {
		b.Fatal(err)
	}
	th := NewThrottle(slog.New(slog.NewJSONHandler(io.Discard, nil)), time.Hour, ins.LogSuppressed())
	ctx := context.Background()
	th.Log(ctx, slog.LevelError, "k", "m")
	b.ReportAllocs()
	for b.Loop() {
		th.Log(ctx, slog.LevelError, "k", "m", slog.String("route", "churn"))
	}
}
