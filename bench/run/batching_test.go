package main

import (
	"math"
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
		variantRunID(phaseBatching, batchingVariants(p)[0], mlpRoute, 64, 0),
		variantRunID(phaseBatching, batchingVariants(p)[1], churnRoute, 8, 2),
		variantRunID(phaseThreads, threadVariants(p)[1], churnRoute, 32, 0),
	}
	if want := []string{"batching-off-mlp-c64", "batching-busy-churn-c8-round2", "threads-w1-i2-churn-c32"}; !slices.Equal(ids, want) {
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

func TestBatchingRunIsTheMedianOfItsRounds(t *testing.T) {
	s := cannedSuite()
	rounds := s.batchingRounds(churnModel, 64, "busy")
	if len(rounds) != 6 {
		t.Fatalf("got %d rounds; want 6", len(rounds))
	}
	for i, r := range rounds {
		if r.Round != i+1 {
			t.Errorf("round %d in place %d", r.Round, i)
		}
	}
	med := s.batchingRun(churnModel, 64, "busy")
	if got, want := med.Summary.Throughput, 27000.0; math.Abs(got-want) > 1e-6 {
		t.Errorf("median throughput %v; want %v", got, want)
	}
	if med.Round != 0 || med.Summary.OK != sumOK(rounds) {
		t.Errorf("median run: round %d, %d OK; want round 0 and the rounds' %d", med.Round, med.Summary.OK, sumOK(rounds))
	}
	if got := s.batchingRoundConns(wideModel); !slices.Equal(got, []int{64}) {
		t.Errorf("widemlp round connection counts: got %v; want [64]", got)
	}
	if s.batchingRun(mlpModel, 64, "window") == nil || len(s.batchingRounds(mlpModel, 64, "window")) != 0 {
		t.Error("mlp256 window at 64 connections: want a single run and no rounds")
	}
}

func sumOK(runs []*RunResult) int64 {
	var n int64
	for _, r := range runs {
		n += r.Summary.OK
	}
	return n
}

func TestRoundModesAlternate(t *testing.T) {
	if got := roundModes(1); !slices.Equal(got, []string{"off", "busy"}) {
		t.Errorf("round 1: got %v", got)
	}
	if got := roundModes(2); !slices.Equal(got, []string{"busy", "off"}) {
		t.Errorf("round 2: got %v", got)
	}
}
