package serve

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/signature"
)

const benchRow = `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`

// BenchmarkHandler is one full scoring request through the handler in
// memory: routing, provenance, media type, decode, validate, ONNX Runtime,
// encode.
func BenchmarkHandler(b *testing.B) {
	for _, rows := range []int{1, 16} {
		b.Run(map[int]string{1: "rows=1", 16: "rows=16"}[rows], func(b *testing.B) {
			s, ctx := inMemory(b, 1, champion)
			body := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [` + rowsOf(rows, `[37, 36.0, 1306.52, 1]`) + `]}}`
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			cpu := startCPU()
			for b.Loop() {
				setRequest(ctx, "/invocations", "application/json", body)
				ctx.Response.Reset()
				s.Handler(ctx)
			}
			cpu.report(b)
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		})
	}
}

// slowModel wraps a model and makes Predict take at least delay, or fail.
type slowModel struct {
	Model
	delay time.Duration
	fail  bool
}

func (m slowModel) Predict(ctx context.Context, b *signature.Batch) (signature.Prediction, error) {
	if m.fail {
		return nil, errors.New("shadow model failed")
	}
	time.Sleep(m.delay)
	return m.Model.Predict(ctx, b)
}

// BenchmarkShadowOverhead measures the primary's latency, from its own
// handler goroutines, with no shadow, with a shadow that fails every
// request, and with a shadow 20x slower than the primary, all copying every
// request (sample 1). It reports p50 and p99 per request in µs: a shadow
// must not move the primary's p99 beyond the CPU it takes on a small
// machine.
func BenchmarkShadowOverhead(b *testing.B) {
	for _, mode := range []string{"none", "failing", "slow"} {
		b.Run("shadow="+mode, func(b *testing.B) {
			s, err := New(Config{ShadowQueue: 256})
			if err != nil {
				b.Fatal(err)
			}
			primary := loadModel(b, testutil.RecordedModel(b, "churn-gbm", 1))
			spec := RouteSpec{Name: "churn", Targets: []TargetSpec{{URI: champion, Alias: "champion"}}}
			if mode != "none" {
				spec.Shadow = &ShadowSpec{URI: "models:/churn-gbm@challenger", Alias: "challenger", Sample: 1}
			}
			deps := map[string]Deployment{champion: {Model: primary, Provenance: v1Provenance}}
			if mode != "none" {
				shadow := loadModel(b, testutil.RecordedModel(b, "churn-gbm", 2))
				sm := slowModel{Model: shadow, delay: 200 * time.Microsecond, fail: mode == "failing"}
				deps["models:/churn-gbm@challenger"] = Deployment{Model: sm, Provenance: Provenance{Name: "churn-gbm", Version: "2"}}
			}
			publish(b, s, []RouteSpec{spec}, deps)
			defer s.Close()
			var mu sync.Mutex
			all := hdrhistogram.New(1, 10_000_000, 3)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				h := hdrhistogram.New(1, 10_000_000, 3)
				ctx := requestCtx()
				for pb.Next() {
					setRequest(ctx, "/invocations", "application/json", benchRow)
					ctx.Response.Reset()
					start := time.Now()
					s.Handler(ctx)
					h.RecordValue(max(time.Since(start).Nanoseconds(), 1))
					if ctx.Response.StatusCode() != 200 {
						b.Errorf("primary status %d", ctx.Response.StatusCode())
					}
				}
				mu.Lock()
				all.Merge(h)
				mu.Unlock()
			})
			b.ReportMetric(float64(all.ValueAtQuantile(50))/1e3, "p50-µs")
			b.ReportMetric(float64(all.ValueAtQuantile(99))/1e3, "p99-µs")
			if mode != "none" {
				st := s.Status().Routes[0].Shadow
				b.ReportMetric(float64(st.Dropped)/float64(max(st.Sampled, 1)), "dropped/sampled")
			}
		})
	}
}
