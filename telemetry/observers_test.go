package telemetry

import (
	"sync/atomic"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

func TestObserversReportSources(t *testing.T) {
	tel := newTestTelemetry(t, nil)
	ins, err := NewInstruments(tel.MeterProvider())
	if err != nil {
		t.Fatalf("NewInstruments: %v", err)
	}
	var sessions atomic.Int64
	sessions.Store(3)
	reg, err := RegisterObservers(ins, Sources{
		LoadedVersions: func() (int64, int64, int64) { return 5, 2, 123456 },
		LiveSessions:   sessions.Load,
		Staleness: func() []URIStaleness {
			return []URIStaleness{
				{URI: "models:/churn-gbm@champion", Seconds: 4.5},
				{URI: "models:/churn-gbm@challenger", Seconds: 310, Stale: true},
			}
		},
		Swaps: func() []URICount {
			return []URICount{{URI: "models:/churn-gbm@champion", Swaps: 3, Failures: 1}}
		},
		Shadow: func() []ShadowFigures {
			return []ShadowFigures{{
				Route: "gbm", ShadowURI: "models:/churn-gbm/2",
				Sampled: 100, Dropped: 4, Errors: 1, Compared: 95,
				MeanLatencyDiffSeconds: -0.0002,
				Outputs: []OutputFigures{
					{Output: "label", Values: 95, Disagreements: 19},
					{Output: "probability", Values: 95, Disagreements: 5, Numeric: true, MeanAbsDiff: 0.01, P99AbsDiff: 0.25},
					{Output: "unseen", Values: 0, Numeric: true},
				},
			}}
		},
	})
	if err != nil {
		t.Fatalf("RegisterObservers: %v", err)
	}

	champion := labels{"uri": "models:/churn-gbm@champion"}.String()
	challenger := labels{"uri": "models:/churn-gbm@challenger"}.String()
	shadow := labels{"route": "gbm", "shadow": "models:/churn-gbm/2"}.String()
	out := func(o string) string {
		return labels{"route": "gbm", "shadow": "models:/churn-gbm/2", "output": o}.String()
	}
	tests := []struct {
		family string
		typ    dto.MetricType
		want   map[string]float64 // every series of the family
	}{
		{"mlgate_model_versions_loaded", dto.MetricType_GAUGE, map[string]float64{
			labels{"state": "pinned"}.String(): 2, labels{"state": "cached"}.String(): 3}},
		{"mlgate_model_bytes", dto.MetricType_GAUGE, map[string]float64{"{}": 123456}},
		{"mlgate_onnxruntime_sessions", dto.MetricType_GAUGE, map[string]float64{"{}": 3}},
		{"mlgate_registry_staleness_seconds", dto.MetricType_GAUGE, map[string]float64{champion: 4.5, challenger: 310}},
		{"mlgate_registry_stale", dto.MetricType_GAUGE, map[string]float64{champion: 0, challenger: 1}},
		{"mlgate_model_swaps_total", dto.MetricType_COUNTER, map[string]float64{champion: 3}},
		{"mlgate_model_reload_failures_total", dto.MetricType_COUNTER, map[string]float64{champion: 1}},
		{"mlgate_shadow_sampled_total", dto.MetricType_COUNTER, map[string]float64{shadow: 100}},
		{"mlgate_shadow_dropped_total", dto.MetricType_COUNTER, map[string]float64{shadow: 4}},
		{"mlgate_shadow_errors_total", dto.MetricType_COUNTER, map[string]float64{shadow: 1}},
		{"mlgate_shadow_compared_total", dto.MetricType_COUNTER, map[string]float64{shadow: 95}},
		{"mlgate_shadow_latency_diff_seconds", dto.MetricType_GAUGE, map[string]float64{shadow: -0.0002}},
		{"mlgate_shadow_disagreement_ratio", dto.MetricType_GAUGE, map[string]float64{out("label"): 0.2, out("probability"): 5.0 / 95}},
		{"mlgate_shadow_abs_diff_mean", dto.MetricType_GAUGE, map[string]float64{out("probability"): 0.01}},
		{"mlgate_shadow_abs_diff_p99", dto.MetricType_GAUGE, map[string]float64{out("probability"): 0.25}},
	}
	check := func(fams map[string]*dto.MetricFamily) {
		t.Helper()
		for _, tt := range tests {
			got := series(t, fams, tt.family, tt.typ)
			if len(got) != len(tt.want) {
				t.Errorf("%s: got %d series; want %d", tt.family, len(got), len(tt.want))
			}
			for key, want := range tt.want {
				m, ok := got[key]
				if !ok {
					t.Errorf("%s%s missing", tt.family, key)
					continue
				}
				if v := value(m); v != want {
					t.Errorf("%s%s = %v; want %v", tt.family, key, v, want)
				}
			}
		}
	}
	check(scrape(t, tel.MetricsHandler()))

	// The next scrape calls the sources again.
	sessions.Store(7)
	tests[2].want = map[string]float64{"{}": 7}
	check(scrape(t, tel.MetricsHandler()))

	if err := reg.Unregister(); err != nil {
		t.Fatalf("Unregister: %v", err)
	}
	fams := scrape(t, tel.MetricsHandler())
	for _, tt := range tests {
		if _, ok := fams[tt.family]; ok {
			t.Errorf("%s still exported after Unregister", tt.family)
		}
	}
}

func TestObserversSkipNilSources(t *testing.T) {
	tel := newTestTelemetry(t, nil)
	ins, err := NewInstruments(tel.MeterProvider())
	if err != nil {
		t.Fatalf("NewInstruments: %v", err)
	}
	if _, err := RegisterObservers(ins, Sources{LiveSessions: func() int64 { return 2 }}); err != nil {
		t.Fatalf("RegisterObservers: %v", err)
	}
	fams := scrape(t, tel.MetricsHandler())
	if got := value(series(t, fams, "mlgate_onnxruntime_sessions", dto.MetricType_GAUGE)["{}"]); got != 2 {
		t.Errorf("mlgate_onnxruntime_sessions = %v; want 2", got)
	}
	for _, name := range []string{"mlgate_model_versions_loaded", "mlgate_registry_staleness_seconds", "mlgate_model_swaps_total", "mlgate_shadow_sampled_total"} {
		if _, ok := fams[name]; ok {
			t.Errorf("%s exported without a source", name)
		}
	}
}
