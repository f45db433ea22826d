package main

import (
	"slices"
	"strings"
	"testing"
)

func TestVariants(t *testing.T) {
	p := fullPlan()
	var got []string
	for _, v := range append(batchingVariants(p), threadVariants(p)...) {
		got = append(got, v.name+": "+strings.Join(v.flags(), " "))
	}
	want := []string{
		"mlgate-batching-off: --batching off",
		"mlgate-batching-busy: --batching busy",
		"mlgate-batching-window: --batching window",
		"mlgate-w1-i1: --batching busy --workers 1 --intra-op-threads 1",
		"mlgate-w1-i2: --batching busy --workers 1 --intra-op-threads 2",
		"mlgate-w2-i1: --batching busy --workers 2 --intra-op-threads 1",
		"mlgate-w2-i2: --batching busy --workers 2 --intra-op-threads 2",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ids := []string{
		variantRunID(phaseBatching, batchingVariants(p)[0], mlpRoute, 64),
		variantRunID(phaseThreads, threadVariants(p)[1], churnRoute, 32),
	}
	if want := []string{"batching-off-mlp-c64", "threads-w1-i2-churn-c32"}; !slices.Equal(ids, want) {
		t.Errorf("run IDs: got %v; want %v", ids, want)
	}
}

func TestThreadVerdict(t *testing.T) {
	run := func(workers, intra int, rps float64) *RunResult {
		return &RunResult{Workers: workers, IntraOpThreads: intra, Summary: Summary{Throughput: rps, P99: 4000, Responses: 1}}
	}
	tests := []struct {
		name string
		runs []*RunResult
		want string
	}{
		{"default fastest", []*RunResult{run(1, 1, 8000), run(2, 1, 12000), run(2, 2, 9000)},
			"mlp256 at 64 connections: fastest workers=2 intra=1 (12,000 req/s, p99 4.00 ms); that is mlgate's default."},
		{"default slower", []*RunResult{run(1, 2, 10000), run(2, 1, 9000)},
			"mlp256 at 64 connections: fastest workers=1 intra=2 (10,000 req/s, p99 4.00 ms); the defaults (workers=2 intra=1) reach 90% of it (9,000 req/s, p99 4.00 ms)."},
		{"default not measured", []*RunResult{run(1, 1, 10000)},
			"mlp256 at 64 connections: fastest workers=1 intra=1 (10,000 req/s, p99 4.00 ms); the defaults (workers=2 intra=1) were not measured."},
		{"all failed", []*RunResult{run(2, 1, 0)}, "mlp256 at 64 connections: no successful run."},
	}
	for _, tt := range tests {
		if got := threadVerdict(tt.runs, mlpModel, 64, 2); got != tt.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tt.name, got, tt.want)
		}
	}
}

func TestTargets(t *testing.T) {
	s := cannedSuite()
	if v, verdict := s.targetBusy(); v != 3.2 || verdict != "PASS" {
		t.Errorf("busy target: got %v %s; want 3.2 PASS", v, verdict)
	}
	if run, verdict := s.targetHalfSat(); run == nil || run.Fraction != 0.5 || verdict != "FAIL" {
		t.Errorf("half-saturation target: got %v %s; want the 50%% run, FAIL", run, verdict)
	}
	for i := range s.Runs {
		if r := &s.Runs[i]; r.Phase == phaseBatching && r.Model == mlpModel && r.Batching == "busy" && r.Connections == 64 {
			r.Summary.Throughput = 2.9 * s.batchingRun(mlpModel, 64, "off").Summary.Throughput
		}
		if r := &s.Runs[i]; r.Phase == phaseOpen && r.Server == serverMlgate {
			r.Summary.P99 = 2000
		}
	}
	if _, verdict := s.targetBusy(); verdict != "FAIL" {
		t.Errorf("busy target at 2.9×: got %s; want FAIL", verdict)
	}
	if _, verdict := s.targetHalfSat(); verdict != "PASS" {
		t.Errorf("half-saturation target at p99 2 ms: got %s; want PASS", verdict)
	}
	s.Runs = nil
	if _, verdict := s.targetBusy(); verdict != "n/a" {
		t.Errorf("busy target without runs: got %s; want n/a", verdict)
	}
	if _, verdict := s.targetHalfSat(); verdict != "n/a" {
		t.Errorf("half-saturation target without runs: got %s; want n/a", verdict)
	}
}
