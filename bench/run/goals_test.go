package main

import (
	"math"
	"strings"
	"testing"
)

// TestGoals judges the canned suite, whose figures are chosen so that each
// goal's verdict is known: see cannedSuite and addVariants.
func TestGoals(t *testing.T) {
	s := cannedSuite()
	var got []string
	for _, g := range s.goals() {
		got = append(got, strings.Join([]string{g.Target, g.Client, g.Measured, g.Verdict}, " | "))
	}
	want := []string{
		"mlgate / ceiling throughput ≥ 0.80×, 32 connections, one row | loadtest | 0.70× (95% CI 0.70–0.70×, 6 rounds) | FAIL",
		"mlgate / ceiling throughput ≥ 0.80×, 32 connections, one row | wrk | 0.60× (95% CI 0.60–0.60×, 6 rounds) | FAIL",
		"mlgate / naive throughput ≥ 2.5×, 32 connections, one row | loadtest | 2.33× (95% CI 2.33–2.33×, 6 rounds) | FAIL",
		"mlgate / naive throughput ≥ 2.5×, 32 connections, one row | wrk | 2.57× (95% CI 2.57–2.57×, 6 rounds) | PASS",
		"server CPU per request, mlgate / ceiling ≤ 1.4× | loadtest | 1.30× (95% CI 1.30–1.30×, 6 rounds) | PASS",
		"server CPU per request, mlgate / ceiling ≤ 1.4× | wrk | 1.56× (95% CI 1.56–1.56×, 6 rounds) | FAIL",
		"churn-gbm, batching busy / off ≥ 0.97× throughput and ≤ 1.03× p99, 1 connection | loadtest | throughput 1.00× (95% CI 1.00–1.00×, 6 rounds); p99 1.00× (95% CI 1.00–1.00×, 6 rounds) | PASS",
		"churn-gbm, batching busy / off ≥ 0.97× throughput and ≤ 1.03× p99, 8 connections | loadtest | throughput 1.00× (95% CI 1.00–1.00×, 6 rounds); p99 1.00× (95% CI 1.00–1.00×, 6 rounds) | PASS",
		"churn-gbm, batching busy / off ≥ 0.97× throughput and ≤ 1.03× p99, 32 connections | loadtest | throughput 0.90× (95% CI 0.90–0.90×, 6 rounds); p99 1.11× (95% CI 1.11–1.11×, 6 rounds) | FAIL",
		"churn-gbm, batching busy / off ≥ 0.97× throughput and ≤ 1.03× p99, 64 connections | loadtest | throughput 0.90× (95% CI 0.90–0.90×, 6 rounds); p99 1.11× (95% CI 1.11–1.11×, 6 rounds) | FAIL",
		"churn-gbm, batching busy / off ≥ 0.97× throughput and ≤ 1.03× p99, 128 connections | loadtest | throughput 0.90× (95% CI 0.90–0.90×, 6 rounds); p99 1.11× (95% CI 1.11–1.11×, 6 rounds) | FAIL",
		"widemlp, batching busy / off ≥ 3× throughput, 64 connections | loadtest | 3.75× (95% CI 3.75–3.75×, 6 rounds) | PASS",
		"0 allocs/op in steady state in every BenchmarkHandler benchmark, -benchtime=2s -count=6 | go test | Handler/rows=16 1 allocs/op (the most over the runs) | FAIL",
		"mlgate p99 ≤ 1.00 ms at 50% of its saturation throughput (open loop, churn-gbm, one row) | loadtest | 5.30 ms (open loop at 14,000 req/s) | FAIL",
		"V2 REST JSON / /invocations throughput ≥ 0.90×, 1 row per request | loadtest | 0.95× (95% CI 0.95–0.95×, 6 rounds) | PASS",
		"V2 REST JSON / /invocations throughput ≥ 0.90×, 64 rows per request | loadtest | 0.83× (95% CI 0.83–0.83×, 6 rounds) | FAIL",
		"V2 REST, binary data / V2 REST JSON throughput > 1×, 64 rows per request | loadtest | 1.40× (95% CI 1.40–1.40×, 6 rounds) | PASS",
		"V2 gRPC, raw contents / V2 REST JSON throughput > 1×, 64 rows per request | grpc-go | 0.96× (95% CI 0.96–0.96×, 6 rounds) | FAIL",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestGoalsUnknown checks that a suite without the runs a goal needs says
// n/a rather than passing or failing it.
func TestGoalsUnknown(t *testing.T) {
	s := cannedSuite()
	s.Runs = nil
	s.Handler = nil
	for _, g := range s.goals() {
		if g.Verdict != "n/a" {
			t.Errorf("goal %d %q: got %s (%s); want n/a without runs", g.Number, g.Target, g.Verdict, g.Measured)
		}
	}
}

func TestGoalVerdicts(t *testing.T) {
	e := func(xs ...float64) Estimate { return estimate(xs) }
	tests := []struct {
		got, want string
	}{
		{atLeast(e(0.8), 0.8), "PASS"},
		{atLeast(e(0.79, 0.81, 0.799), 0.8), "FAIL"},
		{atLeast(e(), 0.8), "n/a"},
		{atLeast(e(math.NaN()), 0.8), "n/a"},
		{atMost(e(1.4), 1.4), "PASS"},
		{atMost(e(1.41), 1.4), "FAIL"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("case %d: got %s; want %s", i, tt.got, tt.want)
		}
	}
	s := cannedSuite()
	s.Handler.Allocs[1].Max = 0
	if m, v := s.handlerAllocsGoal(); v != "PASS" || m != "Handler/rows=1, Handler/rows=16: 0 allocs/op in every one of 6 runs" {
		t.Errorf("handler allocations all zero, Loopback's not judged: got %q %s; want PASS", m, v)
	}
	s.Handler.Allocs = s.Handler.Allocs[2:]
	if m, v := s.handlerAllocsGoal(); v != "n/a" {
		t.Errorf("no BenchmarkHandler results: got %q %s; want n/a", m, v)
	}
}
