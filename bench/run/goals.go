package main

import (
	"fmt"
	"math"
	"strings"
)

// The goals mlgate's performance work set itself, judged on one run. The
// generated section states whether the run met each; a miss does not fail
// the run. A ratio goal is judged on the median of the per-round ratios,
// whose 95% confidence interval is shown next to it.
const (
	// goalCeilingRatio and goalNaiveRatio are the least mlgate / ceiling
	// and mlgate / naive throughput at the headline connection count.
	goalCeilingRatio = 0.8
	goalNaiveRatio   = 2.5
	// goalCPURatio is the most mlgate's server CPU per request may be over
	// the ceiling's.
	goalCPURatio = 1.4
	// goalBusyOffMin is the least churn-gbm throughput with batching busy
	// over off at each batching connection count, and goalBusyOffP99Max
	// the most its p99 may be over off's: "the same or better", within
	// the same 3% the throughput is allowed.
	goalBusyOffMin    = 0.97
	goalBusyOffP99Max = 1.03
	// goalWideBusyRatio is the least widemlp throughput with batching busy
	// over off, at the plan's widemlp connection count.
	goalWideBusyRatio = 3.0
	// halfSatFraction is the open-loop load, as a fraction of mlgate's
	// saturation throughput, at which halfSatP99Micros applies.
	halfSatFraction  = 0.5
	halfSatP99Micros = 1000
)

// verdict is PASS or FAIL for a measured value, n/a when it is unknown.
func verdict(known, pass bool) string {
	switch {
	case !known:
		return "n/a"
	case pass:
		return "PASS"
	default:
		return "FAIL"
	}
}

// Goal is one goal's line: what it asks, what the run measured and
// whether that meets it.
type Goal struct {
	Number   int
	Target   string
	Client   string
	Measured string
	Verdict  string
}

// atLeast and atMost judge an estimate's median.
func atLeast(e Estimate, min float64) string { return verdict(e.known(), e.Median >= min) }
func atMost(e Estimate, max float64) string  { return verdict(e.known(), e.Median <= max) }

// goalClients are the clients whose rounds the suite ran, in order.
func (s *Suite) goalClients() []string {
	var out []string
	for _, c := range allClients {
		for _, r := range s.Runs {
			if r.Phase == phaseRound && r.client() == c {
				out = append(out, c)
				break
			}
		}
	}
	if len(out) == 0 {
		out = []string{clientLoadtest}
	}
	return out
}

// goals evaluates goals 1 to 6 on the suite.
func (s *Suite) goals() []Goal {
	var out []Goal
	c := s.Plan.HeadlineConns
	for _, client := range s.goalClients() {
		e := s.roundRatio(client, serverMlgate, serverCeiling, throughput)
		out = append(out, Goal{1, fmt.Sprintf("mlgate / ceiling throughput ≥ %.2f×, %d connections, one row", goalCeilingRatio, c),
			client, fmtRatioEstimate(e), atLeast(e, goalCeilingRatio)})
	}
	for _, client := range s.goalClients() {
		e := s.roundRatio(client, serverMlgate, serverNaive, throughput)
		out = append(out, Goal{1, fmt.Sprintf("mlgate / naive throughput ≥ %.1f×, %d connections, one row", goalNaiveRatio, c),
			client, fmtRatioEstimate(e), atLeast(e, goalNaiveRatio)})
	}
	for _, client := range s.goalClients() {
		e := s.roundRatio(client, serverMlgate, serverCeiling, cpu)
		out = append(out, Goal{2, fmt.Sprintf("server CPU per request, mlgate / ceiling ≤ %.1f×", goalCPURatio),
			client, fmtRatioEstimate(e), atMost(e, goalCPURatio)})
	}
	for _, conns := range s.Plan.BatchingConns {
		tp, lat, v := s.busyOff(conns)
		out = append(out, Goal{3, fmt.Sprintf("churn-gbm, batching busy / off ≥ %.2f× throughput and ≤ %.2f× p99, %s",
			goalBusyOffMin, goalBusyOffP99Max, plural(conns, "connection")), clientLoadtest,
			"throughput " + fmtRatioEstimate(tp) + "; p99 " + fmtRatioEstimate(lat), v})
	}
	wc := s.Plan.WideConns
	wide := estimate(pairedRatios(s.batchingRounds(wideModel, wc, "busy"), s.batchingRounds(wideModel, wc, "off"), throughput))
	out = append(out, Goal{4, fmt.Sprintf("widemlp, batching busy / off ≥ %.0f× throughput, %d connections", goalWideBusyRatio, wc),
		clientLoadtest, fmtRatioEstimate(wide), atLeast(wide, goalWideBusyRatio)})
	measured, v := s.handlerAllocsGoal()
	out = append(out, Goal{5, fmt.Sprintf("0 allocs/op in steady state in every %s benchmark, -benchtime=%s -count=%d",
		handlerGoalBenchmark, s.Plan.HandlerBenchtime, s.Plan.HandlerCount), "go test", measured, v})
	half := s.openRun(serverMlgate, halfSatFraction)
	halfP99 := p99(half)
	halfMeasured := "n/a"
	if !math.IsNaN(halfP99) {
		halfMeasured = fmt.Sprintf("%s (open loop at %s req/s)", fmtMicros(half.Summary.P99), fmtRate(half.Rate))
		if c := s.openRun(serverCeiling, halfSatFraction); !math.IsNaN(p99(c)) {
			halfMeasured += fmt.Sprintf("; the ceiling at half its saturation: %s", fmtMicros(c.Summary.P99))
		}
	}
	out = append(out, Goal{6, fmt.Sprintf("mlgate p99 ≤ %s at %s of its saturation throughput (open loop, churn-gbm, one row)",
		fmtMicros(halfSatP99Micros), fmtPercent(halfSatFraction)), clientLoadtest, halfMeasured,
		verdict(!math.IsNaN(halfP99), halfP99 <= halfSatP99Micros)})
	return append(out, s.protocolGoals()...)
}

// busyOff is goal 3 at conns connections: churn-gbm's per-round busy / off
// throughput and p99 ratios, and the verdict.
func (s *Suite) busyOff(conns int) (tp, lat Estimate, v string) {
	busy, off := s.batchingRounds(churnModel, conns, "busy"), s.batchingRounds(churnModel, conns, "off")
	tp = estimate(pairedRatios(busy, off, throughput))
	lat = estimate(pairedRatios(busy, off, p99))
	v = verdict(tp.known() && lat.known(), tp.Median >= goalBusyOffMin && lat.Median <= goalBusyOffP99Max)
	return tp, lat, v
}

// handlerGoalBenchmark names the benchmarks goal 5 is judged on: the
// handler in memory, every sub-benchmark. ./serve's other benchmarks are
// listed with their allocations, but BenchmarkLoopback's client reads each
// answer with net/http's http.ReadResponse, whose allocations count in its
// allocs/op too.
const handlerGoalBenchmark = "BenchmarkHandler"

// judgedForAllocs reports whether goal 5 is judged on benchmark name.
func judgedForAllocs(name string) bool {
	return name == handlerGoalBenchmark || strings.HasPrefix(name, handlerGoalBenchmark+"/")
}

// handlerAllocsGoal is goal 5's measured text and verdict: the handler
// benchmarks that allocate, or how many allocate nothing.
func (s *Suite) handlerAllocsGoal() (string, string) {
	var judged []BenchAllocs
	if s.Handler != nil {
		for _, a := range s.Handler.Allocs {
			if judgedForAllocs(a.Name) {
				judged = append(judged, a)
			}
		}
	}
	if len(judged) == 0 {
		return "n/a (no " + handlerGoalBenchmark + " results)", "n/a"
	}
	var bad, names []string
	for _, a := range judged {
		names = append(names, strings.TrimPrefix(a.Name, "Benchmark"))
		if a.Max > 0 {
			bad = append(bad, fmt.Sprintf("%s %g allocs/op", strings.TrimPrefix(a.Name, "Benchmark"), a.Max))
		}
	}
	if len(bad) == 0 {
		return fmt.Sprintf("%s: 0 allocs/op in every one of %s", strings.Join(names, ", "), plural(s.Plan.HandlerCount, "run")), "PASS"
	}
	return strings.Join(bad, "; ") + " (the most over the runs)", "FAIL"
}

// goalsTable writes the goal lines.
func (r *renderer) goalsTable() {
	s := r.s
	r.p("### Goals\n\n")
	r.p("Each line states a fact about this run; a miss does not fail `make bench`. Ratios are the\n")
	r.p("median of the per-round ratios (servers or modes paired within a round) with benchstat's 95%%\n")
	r.p("confidence interval, which needs six rounds; the verdict is on the median.\n\n")
	r.p("| goal | target | client | measured | |\n|---:|---|---|---|---|\n")
	for _, g := range s.goals() {
		r.p("| %d | %s | %s | %s | **%s** |\n", g.Number, g.Target, g.Client, mdCell(g.Measured), g.Verdict)
	}
	r.p("\n")
}
