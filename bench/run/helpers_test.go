package main

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mlgate/mlgate/loadtest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeServerEnv); mode != "" {
		os.Exit(fakeServer(mode, os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// cannedReport is a loadtest.Report as a run of the given throughput and
// latencies (µs) would produce it.
func cannedReport(mode string, rps float64, p50, p99 int64, errors int64) *loadtest.Report {
	elapsed := 10.0
	ok := int64(math.Round(rps * elapsed))
	return &loadtest.Report{
		Config:         loadtest.RunConfig{Mode: mode, Endpoint: "http://127.0.0.1:1/invocations"},
		Start:          time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC),
		ElapsedSeconds: elapsed,
		Requests: loadtest.Counts{
			Scheduled: ok + errors, Sent: ok + errors, Responses: ok + errors, OK: ok,
			HTTPErrors: errors, Late: 3, Warmup: ok / 5,
		},
		Throughput:  loadtest.Throughput{Total: float64(ok+errors) / elapsed, OK: float64(ok) / elapsed},
		ServiceTime: loadtest.Latency{Count: ok + errors, P50: p50 * 3 / 4, P99: p99 * 3 / 4},
		Statuses:    statuses(ok, errors),
		Latency: loadtest.Latency{Count: ok + errors, Min: p50 / 4, Mean: float64(p50) * 1.2,
			P50: p50, P90: (p50 + p99) / 2, P99: p99, P999: p99 * 2, Max: p99 * 4},
	}
}

func statuses(ok, errors int64) []loadtest.StatusCount {
	out := []loadtest.StatusCount{{Status: 200, Count: ok}}
	if errors > 0 {
		out = append(out, loadtest.StatusCount{Status: 429, Count: errors})
	}
	return out
}

// cannedSuite is a full suite of three servers with made-up but plausible
// numbers, mlgate between naive and the ceiling.
func cannedSuite() *Suite {
	p := fullPlan()
	s := &Suite{
		Started:  time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC),
		Finished: time.Date(2026, 11, 22, 3, 7, 31, 0, time.UTC),
		Command:  "make bench",
		Machine: Machine{CPUs: 2, CPUModel: "AMD EPYC 7B13", Kernel: "Linux 6.1.0", GoVersion: "go1.26.0",
			ORTVersion: "1.24.1", Commit: "df0c68b"},
		Plan: p.info(),
		Servers: []ServerInfo{
			{Name: serverCeiling, Command: "bin/ceiling --listen ADDR", ReadySeconds: 0.05, PeakRSSKiB: 9000, Log: "logs/ceiling.log"},
			{Name: serverMlgate, Command: "bin/mlgate serve --config examples/mlgate.yaml --listen ADDR --log-level warn", ReadySeconds: 0.8, PeakRSSKiB: 60000, Log: "logs/mlgate.log"},
			{Name: serverNaive, Command: "bin/naive --listen ADDR", ReadySeconds: 0.1, PeakRSSKiB: 45000, Log: "logs/naive.log"},
		},
		GoTest: &GoTest{
			Command:   "go test -run XXX -bench . -benchmem -count=6 -timeout=10m ./signature ./infer ./serve",
			Output:    "gotest.txt",
			Summary:   "pkg: github.com/mlgate/mlgate/infer\nPredict/v1/rows=1-2   2.558µ ± 1%",
			Benchstat: true,
		},
	}
	base := map[string]float64{serverCeiling: 40000, serverMlgate: 28000, serverNaive: 12000}
	lat := map[string]int64{serverCeiling: 700, serverMlgate: 1000, serverNaive: 2500}
	for _, c := range p.sweepConns {
		for _, name := range allServers {
			scale := math.Min(1, float64(c)/8)
			s.add(name, phaseClosed, c, 1, 0, 0, cannedReport("closed", base[name]*scale, lat[name]*int64(c)/32+40, lat[name]*int64(c)/8+200, 0))
		}
	}
	for _, rows := range p.batchRows[1:] {
		for _, name := range []string{serverMlgate, serverNaive} {
			s.add(name, phaseClosed, p.headlineConns, rows, 0, 0, cannedReport("closed", base[name]/math.Sqrt(float64(rows)), lat[name]*int64(rows)/16, lat[name]*int64(rows)/4, 0))
		}
	}
	for _, f := range p.loadFractions {
		for _, name := range []string{serverMlgate, serverNaive} {
			rate := math.Round(base[name] * f)
			errs := int64(0)
			if f == 0.9 && name == serverNaive {
				errs = 12
			}
			s.add(name, phaseOpen, 0, 1, f, rate, cannedReport("open", rate, int64(float64(lat[name])*f)+60, int64(float64(lat[name])*f*f*20)+300, errs))
		}
	}
	return s
}

// add records rep as a run of the suite, as the harness does.
func (s *Suite) add(server, phase string, conns, rows int, fraction, rate float64, rep *loadtest.Report) {
	id := closedID(conns, rows, server)
	if phase == phaseOpen {
		id = openID(fraction, server)
	}
	s.Runs = append(s.Runs, RunResult{
		ID: id, Server: server, Phase: phase, Connections: conns, Rows: rows, Fraction: fraction, Rate: rate,
		Summary: summarize(rep), CPUMicrosPerRequest: 1e6 / rep.Throughput.OK * 0.9, Report: "reports/" + id + ".html",
	})
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file; got:\n%s\nrun go test ./bench/run -update and review the diff", name, got)
	}
}
