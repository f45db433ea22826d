package main

import (
	"math"
	"reflect"
	"testing"

	"github.com/mlgate/mlgate/loadtest"
)

func TestRatio(t *testing.T) {
	tests := []struct {
		a, b float64
		want float64 // NaN means unknown
	}{
		{28000, 40000, 0.7},
		{28000, 12000, 28000.0 / 12000},
		{1, 1, 1},
		{0, 12000, math.NaN()},      // a failed run
		{28000, 0, math.NaN()},      // nothing to divide by
		{math.NaN(), 1, math.NaN()}, // a missing run
		{1, math.NaN(), math.NaN()},
		{-1, 1, math.NaN()},
		{math.Inf(1), 1, math.NaN()},
	}
	for _, tt := range tests {
		got := ratio(tt.a, tt.b)
		if math.IsNaN(tt.want) {
			if !math.IsNaN(got) {
				t.Errorf("ratio(%v, %v): got %v; want NaN", tt.a, tt.b, got)
			}
			continue
		}
		if math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("ratio(%v, %v): got %v; want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSuiteRatios(t *testing.T) {
	s := cannedSuite()
	mg, ce, nv := s.closedRun(serverMlgate, 32, 1), s.closedRun(serverCeiling, 32, 1), s.closedRun(serverNaive, 32, 1)
	if mg == nil || ce == nil || nv == nil {
		t.Fatalf("closed runs at 32 connections: got mlgate %v, ceiling %v, naive %v; want all three", mg, ce, nv)
	}
	if got, want := fmtRatio(ratio(throughput(mg), throughput(ce))), "0.70×"; got != want {
		t.Errorf("mlgate / ceiling: got %s; want %s", got, want)
	}
	if got, want := fmtRatio(ratio(throughput(mg), throughput(nv))), "2.33×"; got != want {
		t.Errorf("mlgate / naive: got %s; want %s", got, want)
	}
	if got, want := fmtRatio(ratio(p99(nv), p99(mg))), "2.43×"; got != want {
		t.Errorf("naive / mlgate p99: got %s; want %s", got, want)
	}
	if got := fmtRatio(ratio(throughput(s.closedRun(serverCeiling, 32, 16)), throughput(mg))); got != "n/a" {
		t.Errorf("ratio with a run that did not happen: got %s; want n/a", got)
	}
}

func TestSummarize(t *testing.T) {
	rep := cannedReport("closed", 1000, 800, 5000, 7)
	got := summarize(rep)
	want := Summary{
		Scheduled: 10007, Responses: 10007, OK: 10000, Errors: 7, Late: 3, Warmup: 2000, Elapsed: 10,
		Throughput: 1000, P50: 800, P90: 2900, P99: 5000, P999: 10000, Max: 20000, ServiceP50: 600, ServiceP99: 3750,
		Failures: []string{"HTTP 429 ×7"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summarize: got %+v; want %+v", got, want)
	}
}

func TestFailures(t *testing.T) {
	rep := cannedReport("open", 1000, 800, 5000, 0)
	rep.Statuses = append(rep.Statuses, loadtest.StatusCount{Status: 503, Count: 2}, loadtest.StatusCount{Status: 429, Count: 1})
	rep.TransportErrors = []loadtest.ErrorCount{{Kind: "timeout", Count: 4}}
	rep.Requests.Unsent = 5
	got := failures(rep)
	want := []string{"HTTP 503 ×2", "HTTP 429 ×1", "timeout ×4", "unsent ×5"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("failures: got %q; want %q", got, want)
	}
}

func TestOpenRunsByRate(t *testing.T) {
	s := &Suite{Runs: []RunResult{
		{Server: serverMlgate, Phase: phaseOpen, Rate: 300},
		{Server: serverNaive, Phase: phaseOpen, Rate: 50},
		{Server: serverMlgate, Phase: phaseOpen, Rate: 100},
		{Server: serverMlgate, Phase: phaseClosed, Rate: 0},
		{Server: serverMlgate, Phase: phaseOpen, Rate: 200},
	}}
	var got []float64
	for _, r := range s.openRuns(serverMlgate) {
		got = append(got, r.Rate)
	}
	if len(got) != 3 || got[0] != 100 || got[1] != 200 || got[2] != 300 {
		t.Errorf("mlgate open-loop rates: got %v; want [100 200 300]", got)
	}
}
