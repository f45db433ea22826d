package telemetry

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// newTestTelemetry builds a Telemetry with tracing off and shuts it down
// when t ends.
func newTestTelemetry(t *testing.T, env map[string]string) *Telemetry {
	t.Helper()
	tel, err := New(context.Background(), Config{ServiceVersion: "v-test", Getenv: envOf(env)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return tel
}

// scrape GETs /metrics from h and parses the text format strictly.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	r.Header.Set("Accept", "text/plain;version=0.0.4")
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics: got status %d; want 200; body:\n%s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: got Content-Type %q; want text/plain", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// labels is a metric's label set, for lookups and messages.
type labels map[string]string

func (l labels) String() string {
	keys := slices.Sorted(maps.Keys(l))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, l[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func labelsOf(m *dto.Metric) labels {
	l := labels{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// series returns the metrics of family name by label set. It fails t when
// the family is missing or has a different type.
func series(t *testing.T, fams map[string]*dto.MetricFamily, name string, typ dto.MetricType) map[string]*dto.Metric {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("/metrics has no %s; families: %v", name, slices.Sorted(maps.Keys(fams)))
	}
	if f.GetType() != typ {
		t.Fatalf("%s: got type %v; want %v", name, f.GetType(), typ)
	}
	out := map[string]*dto.Metric{}
	for _, m := range f.GetMetric() {
		key := labelsOf(m).String()
		if _, dup := out[key]; dup {
			t.Fatalf("%s: label set %s appears twice", name, key)
		}
		out[key] = m
	}
	return out
}

// value returns a counter's or gauge's value.
func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	}
	return 0
}
