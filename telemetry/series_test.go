package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// TestRetiredVersionLeavesMetrics deploys version 1, then version 2 of a
// route's champion and retires version 1 as mlgate does (the new
// recorder is made before the old one is released): version 1's
// mlgate.requests and mlgate.inference.duration series leave /metrics,
// version 2's stay, and a recorder made twice for the same version is
// removed only by its last release.
func TestRetiredVersionLeavesMetrics(t *testing.T) {
	tel := newTestTelemetry(t, nil)
	ins, err := NewInstruments(tel.MeterProvider())
	if err != nil {
		t.Fatalf("NewInstruments: %v", err)
	}
	ctx := context.Background()
	v1 := ins.NewRequestRecorder("churn", "champion", "churn-gbm", "1")
	again := ins.NewRequestRecorder("churn", "champion", "churn-gbm", "1") // a reload keeping v1
	if again != v1 {
		t.Fatal("NewRequestRecorder twice for one version: got two recorders; want the same one")
	}
	v1.Done(ctx, 200, "POST", time.Millisecond, time.Millisecond)
	v1.Release()
	v2 := ins.NewRequestRecorder("churn", "champion", "churn-gbm", "2")
	v2.Done(ctx, 200, "POST", time.Millisecond, time.Millisecond)

	versions := func() map[string]bool {
		t.Helper()
		fams := scrape(t, tel.MetricsHandler())
		out := map[string]bool{}
		for _, name := range []string{"mlgate_requests_total", "mlgate_inference_duration_seconds"} {
			f := fams[name]
			for _, m := range f.GetMetric() {
				out[name+" v"+labelsOf(m)["model_version"]] = true
			}
		}
		return out
	}
	got := versions()
	for _, want := range []string{"mlgate_requests_total v1", "mlgate_requests_total v2",
		"mlgate_inference_duration_seconds v1", "mlgate_inference_duration_seconds v2"} {
		if !got[want] {
			t.Errorf("before version 1 is retired: no %s series; got %v", want, got)
		}
	}

	again.Release()                                               // the last reference: version 1 is retired
	v1.Done(ctx, 200, "POST", time.Millisecond, time.Millisecond) // a request that started before
	got = versions()
	if got["mlgate_requests_total v1"] || got["mlgate_inference_duration_seconds v1"] {
		t.Errorf("after version 1 is retired, /metrics still has its series: %v", got)
	}
	if !got["mlgate_requests_total v2"] || !got["mlgate_inference_duration_seconds v2"] {
		t.Errorf("after version 1 is retired, version 2's series are gone: %v", got)
	}

	defer func() {
		if recover() == nil {
			t.Error("a release beyond the last: no panic; want one")
		}
	}()
	v1.Release()
}

// TestTargetsOfOneVersionShareInferenceSeries: two targets of a route on
// the same version (both aliases on v1) have one mlgate.inference.duration
// series, their sum, as the SDK's histogram gave them.
func TestTargetsOfOneVersionShareInferenceSeries(t *testing.T) {
	tel := newTestTelemetry(t, nil)
	ins, err := NewInstruments(tel.MeterProvider())
	if err != nil {
		t.Fatalf("NewInstruments: %v", err)
	}
	ctx := context.Background()
	a := ins.NewRequestRecorder("churn", "champion", "churn-gbm", "1")
	b := ins.NewRequestRecorder("churn", "challenger", "churn-gbm", "1")
	for range 3 {
		a.Done(ctx, 200, "POST", time.Millisecond, 2*time.Millisecond)
	}
	b.Done(ctx, 200, "POST", time.Millisecond, 20*time.Millisecond)
	fams := scrape(t, tel.MetricsHandler())
	hs := series(t, fams, "mlgate_inference_duration_seconds", dto.MetricType_HISTOGRAM)
	key := labels{"route": "churn", "model_name": "churn-gbm", "model_version": "1"}.String()
	h := hs[key].GetHistogram()
	if len(hs) != 1 || h.GetSampleCount() != 4 {
		t.Fatalf("mlgate_inference_duration_seconds: %d series, %s count %d; want one series counting 4", len(hs), key, h.GetSampleCount())
	}
	if got, want := h.GetSampleSum(), 3*0.002+0.02; fmt.Sprintf("%.9f", got) != fmt.Sprintf("%.9f", want) {
		t.Errorf("sum %v; want %v", got, want)
	}
	reqs := series(t, fams, "mlgate_requests_total", dto.MetricType_COUNTER)
	if len(reqs) != 2 {
		t.Errorf("mlgate_requests_total: %d series; want one per target", len(reqs))
	}
}

// TestLoadSeriesKeptForServingAndRecent: mlgate.model.load.duration keeps
// the series of the versions that serve and of the 16 most recent loads;
// older loads of versions that do not serve are forgotten.
func TestLoadSeriesKeptForServingAndRecent(t *testing.T) {
	tel := newTestTelemetry(t, nil)
	ins, err := NewInstruments(tel.MeterProvider())
	if err != nil {
		t.Fatalf("NewInstruments: %v", err)
	}
	ctx := context.Background()
	serving := ins.NewRequestRecorder("churn", "champion", "churn-gbm", "1")
	defer serving.Release()
	ins.RecordModelLoad(ctx, "churn-gbm", "1", time.Second, nil)
	ins.RecordModelLoad(ctx, "churn-gbm", "2", time.Second, errors.New("no onnx flavor"))
	for v := 3; v < 3+keepLoads; v++ {
		ins.RecordModelLoad(ctx, "churn-gbm", strconv.Itoa(v), time.Second, nil)
	}
	hs := series(t, scrape(t, tel.MetricsHandler()), "mlgate_model_load_duration_seconds", dto.MetricType_HISTOGRAM)
	have := map[string]bool{}
	for key := range hs {
		have[key] = true
	}
	serves := labels{"model_name": "churn-gbm", "model_version": "1", "outcome": "ok"}.String()
	old := labels{"model_name": "churn-gbm", "model_version": "2", "outcome": "error"}.String()
	if !have[serves] {
		t.Errorf("no series for the serving version's load %s", serves)
	}
	if have[old] {
		t.Errorf("the failed load of version 2, %d loads ago, is still reported", keepLoads)
	}
	if len(hs) != keepLoads+1 {
		t.Errorf("%d series; want %d (the serving version and the %d most recent loads)", len(hs), keepLoads+1, keepLoads)
	}
}
