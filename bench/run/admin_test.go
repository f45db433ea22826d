package main

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestAdminModels reads a GET /admin/models document recorded from mlgate
// serving the generated configuration with batching busy.
func TestAdminModels(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("testdata", "admin-models.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/admin/models" {
			http.NotFound(w, r)
			return
		}
		w.Write(doc)
	}))
	defer srv.Close()
	got, err := adminModels(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	const fewer = "1 of 2 cores: the call is expensive and batching makes it cheaper per row, so fewer lanes gather larger batches"
	want := map[string]routeModel{
		churnRoute: {Batching: "busy", Workers: 2, Stats: &modelStats{Runs: 10, Requests: 11, Rows: 31},
			Calibration: &calibration{OneRowNs: 500, Choice: "one per core (call is cheap or slow)"}},
		mlpRoute: {Batching: "busy", Workers: 1, Stats: &modelStats{Runs: 12, Requests: 41, Rows: 82},
			Calibration: &calibration{OneRowNs: 18482, BatchedPerRowNs: 7461, Choice: fewer}},
		wideRoute: {Batching: "busy", Workers: 1, Stats: &modelStats{Runs: 12, Requests: 41, Rows: 82},
			Calibration: &calibration{OneRowNs: 741036, BatchedPerRowNs: 215057, Choice: fewer}},
	}
	if len(got) != len(want) {
		t.Fatalf("got routes %v; want %v", got, want)
	}
	for route, w := range want {
		g := got[route]
		if g.Batching != w.Batching || g.Workers != w.Workers || g.Stats == nil || *g.Stats != *w.Stats ||
			g.Calibration == nil || *g.Calibration != *w.Calibration {
			t.Errorf("route %s: got %+v (stats %+v, calibration %+v); want %+v (stats %+v, calibration %+v)",
				route, g, g.Stats, g.Calibration, w, w.Stats, w.Calibration)
		}
	}
	if _, err := adminModels(context.Background(), srv.URL+"/elsewhere"); err == nil {
		t.Error("a 404: got no error")
	}
}

func TestParseAdminModelsWithoutStats(t *testing.T) {
	got, err := parseAdminModels([]byte(`{"routes": [{"name": "churn", "targets": [{"model": {"batching": "off"}}]}, {"name": "empty", "targets": []}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := got[churnRoute]; !ok || m.Batching != "off" || m.Stats != nil {
		t.Errorf("churn: got %+v, %v; want batching off without stats", m, ok)
	}
	if _, ok := got["empty"]; ok {
		t.Error("a route without targets: got a model; want none")
	}
}

func TestMeanBatch(t *testing.T) {
	tests := []struct {
		name          string
		before, after *modelStats
		want          float64
	}{
		{"batched", &modelStats{Runs: 5, Requests: 6}, &modelStats{Runs: 105, Requests: 406}, 4},
		{"one per call", &modelStats{Runs: 5, Requests: 6}, &modelStats{Runs: 1005, Requests: 1006}, 1},
		{"no counters", nil, &modelStats{Runs: 1}, 0},
		{"no calls", &modelStats{Runs: 5, Requests: 6}, &modelStats{Runs: 5, Requests: 6}, 0},
	}
	for _, tt := range tests {
		if got := meanBatch(tt.before, tt.after); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: got %v; want %v", tt.name, got, tt.want)
		}
	}
}
