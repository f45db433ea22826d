package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// baselineSuite is the canned suite with a baseline mlgate in its rounds,
// 10% slower than bin/mlgate and 10% more CPU per request with loadtest.
func baselineSuite() *Suite {
	s := cannedSuite()
	s.Baseline = &BaselineInfo{Command: "/tmp/old/mlgate", Version: "mlgate v0.9.0-3-gabc1234", Lever: "body-once"}
	s.Servers = append(s.Servers, ServerInfo{Name: serverBaseline, Phase: phaseHeadline, Command: "/tmp/old/mlgate serve", Log: "logs/mlgate-baseline.log"})
	var extra []RunResult
	for _, r := range s.Runs {
		if r.Phase == phaseRound && r.Server == serverMlgate {
			r.Server, r.ID = serverBaseline, roundID(r.client(), r.Round, serverBaseline)
			r.Summary.Throughput /= 1.1
			r.CPUMicrosPerRequest *= 1.1
			extra = append(extra, r)
		}
	}
	s.Runs = append(s.Runs, extra...)
	return s
}

func TestLeverResult(t *testing.T) {
	s := baselineSuite()
	r := s.leverResult("body-once")
	if r == nil {
		t.Fatal("got no result")
	}
	if r.Lever != "body-once" || r.Baseline != "mlgate v0.9.0-3-gabc1234" || r.Commit != "df0c68b" || len(r.Clients) != 2 {
		t.Fatalf("got %+v; want body-once, the baseline's version, this commit and both clients", r)
	}
	lt := r.Clients[0]
	if lt.Client != clientLoadtest || fmtRate(lt.Before) != "25,455" || fmtRate(lt.After) != "28,000" ||
		fmtChange(lt.Change) != "+10.0% (+10.0 to +10.0%)" || fmtChange(lt.CPUChange) != "-9.1% (-9.1 to -9.1%)" {
		t.Errorf("loadtest: got %+v (change %s, CPU %s)", lt, fmtChange(lt.Change), fmtChange(lt.CPUChange))
	}
	if cannedSuite().leverResult("body-once") != nil {
		t.Error("a suite without a baseline: got a lever result")
	}
	// bin/mlgate taken from another checkout (-bin): the row names both
	// binaries' versions.
	s.Baseline.After = "mlgate v0.9.1"
	r = s.leverResult("body-once")
	s.Levers = []LeverResult{*r}
	if md, want := renderMarkdown(s, "bench/results", ""), "mlgate v0.9.1 vs mlgate v0.9.0-3-gabc1234"; r.After != "mlgate v0.9.1" || !strings.Contains(md, want) {
		t.Errorf("after %q; want the row to say %q", r.After, want)
	}
	s.Levers, s.Baseline.After = nil, ""

	md := renderMarkdown(s, "bench/results", "")
	for _, want := range []string{
		"The baseline mlgate is `/tmp/old/mlgate` (`mlgate v0.9.0-3-gabc1234`), the before of lever **Read the body once: decoding reuses the measuring pass (dd773ab)**.",
		"| mlgate / baseline throughput | 1.10× (95% CI 1.10–1.10×, 6 rounds) | 1.10× (95% CI 1.10–1.10×, 6 rounds) |",
		"| loadtest | mlgate-baseline | 25,200 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

func TestLeversFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), leversFile)
	got, err := loadLevers(path)
	if err != nil || got != nil {
		t.Fatalf("a missing file: got %v, %v; want no results and no error", got, err)
	}
	s := baselineSuite()
	pgo := *s.leverResult("pgo")
	first := *s.leverResult("body-once")
	results := withLever(withLever(nil, pgo), first)
	if keys := []string{results[0].Lever, results[1].Lever}; !slices.Equal(keys, []string{"body-once", "pgo"}) {
		t.Errorf("order: got %v; want the levers' order", keys)
	}
	again := first
	again.Started = first.Started.Add(time.Hour)
	results = withLever(results, again)
	if len(results) != 2 || !results[0].Started.Equal(again.Started) {
		t.Errorf("a second measurement of a lever: got %d results, first started %s; want it to replace the first", len(results), results[0].Started)
	}
	if err := saveLevers(path, results); err != nil {
		t.Fatal(err)
	}
	back, err := loadLevers(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[0].Clients[1].Client != clientWrk || fmtChange(back[1].Clients[0].Change) != fmtChange(pgo.Clients[0].Change) {
		t.Errorf("read back %+v", back)
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadLevers(path); err == nil || !strings.Contains(err.Error(), leversFile) {
		t.Errorf("a broken file: got %v; want an error naming it", err)
	}
}

func TestFmtChange(t *testing.T) {
	tests := []struct {
		e    Estimate
		want string
	}{
		{estimate(nil), "n/a"},
		{estimate([]float64{1.1, 1.2}), "+15.0%"},
		{estimate([]float64{0.9, 0.95, 0.92, 0.93, 0.91, 0.94}), "-7.5% (-10.0 to -5.0%)"},
	}
	for _, tt := range tests {
		if got := fmtChange(tt.e); got != tt.want {
			t.Errorf("fmtChange(%+v): got %q; want %q", tt.e, got, tt.want)
		}
	}
}
