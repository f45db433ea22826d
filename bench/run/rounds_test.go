package main

import (
	"math"
	"strings"
	"testing"
)

func TestMedianRun(t *testing.T) {
	mk := func(round int, rps float64, p99 int64, cpu float64, errs int64) *RunResult {
		return &RunResult{ID: roundID(clientWrk, round, serverMlgate), Server: serverMlgate, Phase: phaseRound, Client: clientWrk,
			Round: round, Connections: 32, Rows: 1, Report: "reports/x.wrk.txt", CPUMicrosPerRequest: cpu,
			Summary: Summary{Throughput: rps, P99: p99, OK: int64(rps), Errors: errs, Responses: int64(rps) + errs,
				Failures: failuresOf(errs)}}
	}
	runs := []*RunResult{mk(1, 100, 900, 20, 0), mk(2, 300, 700, 0, 2), mk(3, 200, 800, 10, 0)}
	m := medianRun(runs)
	if m.ID != "wrk-mlgate" || m.Round != 0 || m.Report != "" || m.Client != clientWrk {
		t.Errorf("identity: got id %q, round %d, report %q, client %q", m.ID, m.Round, m.Report, m.Client)
	}
	if m.Summary.Throughput != 200 || m.Summary.P99 != 800 || m.Summary.OK != 600 || m.Summary.Errors != 2 {
		t.Errorf("summary: got %+v; want medians 200 req/s and p99 800, sums 600 OK and 2 errors", m.Summary)
	}
	if m.CPUMicrosPerRequest != 15 {
		t.Errorf("CPU: got %v; want the median of the known ones, 15", m.CPUMicrosPerRequest)
	}
	if len(m.Summary.Failures) != 1 {
		t.Errorf("failures: got %q", m.Summary.Failures)
	}
	if medianRun(nil) != nil || medianRun(runs[:1]) != runs[0] {
		t.Error("no runs or one: want nil and the run itself")
	}
	if runs[1].CPUMicrosPerRequest != 0 || runs[0].Round != 1 {
		t.Error("medianRun changed its input")
	}
}

func failuresOf(errs int64) []string {
	if errs == 0 {
		return nil
	}
	return []string{"HTTP ≥ 400 ×2"}
}

func TestPairedRatios(t *testing.T) {
	a := []*RunResult{{Round: 1, Summary: Summary{Throughput: 10}}, {Round: 2, Summary: Summary{Throughput: 30}}, {Round: 3, Summary: Summary{Throughput: 5}}}
	b := []*RunResult{{Round: 2, Summary: Summary{Throughput: 10}}, {Round: 1, Summary: Summary{Throughput: 20}}}
	got := pairedRatios(a, b, throughput)
	if len(got) != 2 || got[0] != 0.5 || got[1] != 3 {
		t.Errorf("got %v; want [0.5 3], round 3 unpaired", got)
	}
}

// TestRoundLines writes the canned suite's rounds and ratios as rounds.txt
// does and checks lines of each kind.
func TestRoundLines(t *testing.T) {
	s := cannedSuite()
	var b strings.Builder
	writeRoundsHeader(&b, "20261122T030000Z-df0c68b")
	for i := range s.Runs {
		if r := &s.Runs[i]; r.Round > 0 {
			writeRoundLine(&b, r)
		}
	}
	writeRatioLines(&b, s)
	out := b.String()
	for _, want := range []string{
		"run: 20261122T030000Z-df0c68b\nUnit req/s better=higher\nUnit req/s-ratio better=higher\nUnit cpu-ratio better=lower\nUnit p99-ratio better=lower\n",
		"BenchmarkHeadline/client=loadtest/server=mlgate 277200 36075.0 ns/op 27720.00 req/s 1040000 p50-ns 4200000 p99-ns 13000 cpu-ns/req\n",
		"BenchmarkHeadline/client=wrk/server=ceiling 594000 16835.0 ns/op 59400.00 req/s 740000 p50-ns 3000000 p99-ns 9000 cpu-ns/req\n",
		"BenchmarkBatching/model=churn-gbm/conns=64/mode=busy ",
		"BenchmarkBatching/model=widemlp/conns=64/mode=off ",
		"BenchmarkHeadlineRatio/client=loadtest/ratio=mlgate:ceiling 1 0.7000 req/s-ratio 1.3000 cpu-ratio\n",
		"BenchmarkHeadlineRatio/client=wrk/ratio=mlgate:naive 1 2.5714 req/s-ratio 0.4516 cpu-ratio\n",
		"BenchmarkBatchingRatio/model=churn-gbm/conns=64/ratio=busy:off 1 0.9000 req/s-ratio 1.1111 p99-ratio\n",
		"BenchmarkBatchingRatio/model=widemlp/conns=64/ratio=busy:off 1 3.7500 req/s-ratio 0.2667 p99-ratio\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rounds lack %q", want)
		}
	}
	if strings.Contains(out, "mlgate-baseline") {
		t.Error("ratio lines against a baseline that did not run")
	}
	if n := strings.Count(out, "BenchmarkHeadlineRatio/client=loadtest/ratio=mlgate:ceiling "); n != 6 {
		t.Errorf("got %d mlgate:ceiling ratio lines for loadtest; want one per round, 6", n)
	}
	if strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
		t.Error("rounds hold NaN or Inf")
	}
}

func TestRoundRatioSkipsUnknown(t *testing.T) {
	s := cannedSuite()
	for i := range s.Runs {
		if r := &s.Runs[i]; r.Phase == phaseRound && r.Server == serverCeiling && r.Round == 3 {
			r.CPUMicrosPerRequest = 0
		}
	}
	e := s.roundRatio(clientLoadtest, serverMlgate, serverCeiling, cpu)
	if e.N != 5 || math.Abs(e.Median-1.3) > 1e-9 || e.hasCI() {
		t.Errorf("got %+v; want 5 rounds, median 1.3 and no interval", e)
	}
}

func TestQuoteArgs(t *testing.T) {
	got := strings.Join(quoteArgs([]string{"-col", "/server", "-filter", ".name:Headline .unit:(req/s OR p99-ns)", ".name:/Ratio$/"}), " ")
	want := `-col /server -filter '.name:Headline .unit:(req/s OR p99-ns)' '.name:/Ratio$/'`
	if got != want {
		t.Errorf("got %s; want %s", got, want)
	}
}
