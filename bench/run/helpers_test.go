package main

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
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

// roundJitter spreads a figure over six rounds around its value, which
// stays the median.
var roundJitter = []float64{-0.01, 0.01, -0.02, 0.02, 0, 0}

// cannedSuite is a full suite of three servers with made-up but plausible
// numbers, mlgate between naive and the ceiling: with loadtest, mlgate
// 28,000, ceiling 40,000 and naive 12,000 req/s from 8 connections on
// (the headline's medians over six rounds); with wrk, 36,000, 60,000 and
// 14,000.
func cannedSuite() *Suite {
	p := fullPlan()
	s := &Suite{
		Started:  time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC),
		Finished: time.Date(2026, 11, 22, 3, 12, 31, 0, time.UTC),
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
			Command:   "go test -run XXX -bench . -benchmem -count=6 -benchtime=200ms -timeout=10m ./signature ./infer ./bench/modelcost",
			Output:    "gotest.txt",
			Summary:   "pkg: github.com/mlgate/mlgate/infer\nPredict/v1/rows=1-2   2.558µ ± 1%",
			Benchstat: true,
		},
		Handler: &GoTest{
			Command:   "go test -run XXX -bench . -benchmem -count=6 -benchtime=2s -timeout=10m ./serve",
			Output:    "gotest-handler.txt",
			Summary:   "pkg: github.com/mlgate/mlgate/serve\nHandler/rows=1-2   4.502µ ± 1%",
			Benchstat: true,
			Allocs: []BenchAllocs{
				{Name: "BenchmarkHandler/rows=1", Runs: 6, Max: 0, Median: 0},
				{Name: "BenchmarkHandler/rows=16", Runs: 6, Max: 1, Median: 0},
				{Name: "BenchmarkLoopback/tokens=off", Runs: 6, Max: 26, Median: 26},
			},
		},
		Registry: cannedRegistry(),
		Calibrations: []ModelCalibration{
			{Model: churnModel, Instance: "mlgate-batching-busy", OneRowNs: 600, Workers: 2, Choice: "one per core (call is cheap or slow)"},
			{Model: mlpModel, Instance: "mlgate-batching-busy", OneRowNs: 23000, BatchedPerRowNs: 8000, Workers: 1, Choice: "1 of 2 cores"},
			{Model: wideModel, Instance: "mlgate-batching-busy", OneRowNs: 1_200_000, BatchedPerRowNs: 294_000, Workers: 1, Choice: "1 of 2 cores"},
		},
		Benchstat: "# Per-round ratios: benchstat -filter .name:/Ratio$/ rounds.txt\nHeadlineRatio/client=loadtest/ratio=mlgate:ceiling   0.7000 ± 2%",
		Levers: []LeverResult{{
			Lever: "body-once", Started: time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC), Commit: "abc1234", Baseline: "mlgate v0.9.0",
			Clients: []LeverClient{
				{Client: clientLoadtest, Before: 27000, After: 28000, Change: estimate([]float64{1.03, 1.04, 1.02, 1.05, 1.04, 1.03}),
					CPUBefore: 14, CPUAfter: 13, CPUChange: estimate([]float64{0.93, 0.92, 0.94, 0.93, 0.95, 0.91})},
				{Client: clientWrk, Before: 35000, After: 36000, Change: estimate([]float64{1.02, 1.03})},
			},
		}},
		PGO: &PGOInfo{File: "cmd/mlgate/default.pgo", Loads: []string{"churn-gbm, one row per request, 32 connections", "mlp256, one row per request, 64 connections"},
			Seconds: 8, Profiles: []string{"pgo-1.prof", "pgo-2.prof"}},
	}
	s.Plan.Clients = allClients
	base := map[string]map[string]float64{
		clientLoadtest: {serverCeiling: 40000, serverMlgate: 28000, serverNaive: 12000},
		clientWrk:      {serverCeiling: 60000, serverMlgate: 36000, serverNaive: 14000},
	}
	cpuPerReq := map[string]map[string]float64{
		clientLoadtest: {serverCeiling: 10, serverMlgate: 13, serverNaive: 30},
		clientWrk:      {serverCeiling: 9, serverMlgate: 14, serverNaive: 31},
	}
	lat := map[string]int64{serverCeiling: 700, serverMlgate: 1000, serverNaive: 2500}
	c := p.headlineConns
	for round := 1; round <= p.rounds; round++ {
		for _, client := range allClients {
			for _, name := range allServers {
				rep := cannedReport("closed", base[client][name]*(1+roundJitter[round-1]), lat[name]*int64(c)/32+40, lat[name]*int64(c)/8+200, 0)
				id := roundID(client, round, name)
				s.Runs = append(s.Runs, RunResult{
					ID: id, Server: name, Phase: phaseRound, Client: client, Round: round, Connections: c, Rows: 1,
					Summary: summarize(rep), CPUMicrosPerRequest: cpuPerReq[client][name], ClientCPUMicrosPerRequest: 12,
				})
			}
		}
	}
	for _, c := range p.sweepConns {
		for _, name := range allServers {
			scale := math.Min(1, float64(c)/8)
			s.add(name, phaseClosed, c, 1, 0, 0, cannedReport("closed", base[clientLoadtest][name]*scale, lat[name]*int64(c)/32+40, lat[name]*int64(c)/8+200, 0))
		}
	}
	for _, rows := range p.batchRows[1:] {
		for _, name := range []string{serverMlgate, serverNaive} {
			s.add(name, phaseClosed, p.headlineConns, rows, 0, 0, cannedReport("closed", base[clientLoadtest][name]/math.Sqrt(float64(rows)), lat[name]*int64(rows)/16, lat[name]*int64(rows)/4, 0))
		}
	}
	for _, f := range p.loadFractions {
		for _, name := range []string{serverMlgate, serverNaive} {
			rate := math.Round(base[clientLoadtest][name] * f)
			errs := int64(0)
			if f == 0.9 && name == serverNaive {
				errs = 12
			}
			s.add(name, phaseOpen, 0, 1, f, rate, cannedReport("open", rate, int64(float64(lat[name])*f)+60, int64(float64(lat[name])*f*f*20)+300, errs))
		}
	}
	s.addVariants(p)
	s.addProtocols(p)
	s.Profiles = cannedProfiles()
	s.Before = &Before{
		File: "before-b470bf8.json", Commit: "b470bf8-dirty", Started: time.Date(2026, 11, 21, 5, 11, 0, 0, time.UTC),
		MlgateCommand: "bin/mlgate serve --config examples/mlgate.yaml --listen ADDR --log-level warn",
	}
	for _, c := range []int{1, 8, 32, 128} {
		for name, rps := range map[string]float64{serverCeiling: 50000, serverMlgate: 36000, serverNaive: 25000} {
			s.Before.Throughput = append(s.Before.Throughput, BeforeThroughput{Server: name, Connections: c, Throughput: rps * math.Min(1, float64(c)/8)})
		}
	}
	return s
}

// addProtocols adds the protocol rounds: at one row V2 JSON serves 0.95×
// /invocations; at 64 rows 0.83×, binary data 1.40× V2 JSON and gRPC
// 0.96× it.
func (s *Suite) addProtocols(p plan) {
	rps := map[int]map[string]float64{
		1:  {protocolInvocations: 28000, protocolV2JSON: 26600, protocolV2Binary: 27000, protocolGRPC: 20000},
		64: {protocolInvocations: 3000, protocolV2JSON: 2500, protocolV2Binary: 3500, protocolGRPC: 2400},
	}
	for round := 1; round <= p.protocolRounds; round++ {
		for _, rows := range p.protocolRows {
			for _, proto := range allProtocols {
				rep := cannedReport("closed", rps[rows][proto]*(1+roundJitter[round-1]), 900*int64(rows), 3000*int64(rows), 0)
				s.Runs = append(s.Runs, RunResult{ID: protocolID(proto, rows, round), Server: serverMlgate, Phase: phaseProtocol,
					Protocol: proto, Round: round, Connections: p.headlineConns, Rows: rows, Summary: summarize(rep), CPUMicrosPerRequest: 14 * float64(rows)})
			}
		}
	}
}

// addVariants adds the batching and threads phases' processes and runs:
// on churn-gbm, busy matches off up to 8 connections and loses 10% from
// 32 on; on mlp256, busy wins from 32 connections on and window costs
// throughput; on widemlp, busy serves 3.75× off; and workers=2 intra=1 is
// fastest.
func (s *Suite) addVariants(p plan) {
	for _, v := range append(batchingVariants(p), threadVariants(p)...) {
		phase := phaseBatching
		if v.workers > 0 {
			phase = phaseThreads
		}
		s.Servers = append(s.Servers, ServerInfo{Name: v.name, Phase: phase, ReadySeconds: 0.3, Log: "logs/" + v.name + ".log",
			Command: "bin/mlgate serve --config $BENCH_TMP/mlgate.yaml --listen ADDR --log-level info " + strings.Join(v.flags(), " ")})
	}
	variant := map[string]mlgateVariant{}
	for _, v := range batchingVariants(p) {
		variant[v.batching] = v
	}
	for round := 1; round <= p.rounds; round++ {
		for _, c := range p.batchingConns {
			for _, mode := range roundModes(round) {
				rps := 30000 * math.Min(1, float64(c)/8) * (1 + roundJitter[round-1])
				if mode == "busy" && c >= 32 {
					rps *= 0.9
				}
				s.addVariant(phaseBatching, variant[mode], 2, churnModel, churnRoute, c, round, rps, 1)
			}
		}
	}
	for _, c := range p.mlpConns {
		for _, mode := range p.batchingModes {
			rps, batch := 4000*math.Min(1, float64(c)/8), 1.0
			switch {
			case mode == "busy" && c >= 32:
				rps, batch = rps*3.2, float64(c)/4
			case mode == "window":
				rps, batch = rps*0.8, math.Max(1, float64(c)/2)
			}
			s.addVariant(phaseBatching, variant[mode], 2, mlpModel, mlpRoute, c, 0, rps, batch)
		}
	}
	for round := 1; round <= p.rounds; round++ {
		for _, mode := range roundModes(round) {
			rps, batch := 400*(1+roundJitter[round-1]), 1.0
			if mode == "busy" {
				rps, batch = rps*3.75, 30
			}
			s.addVariant(phaseBatching, variant[mode], 1, wideModel, wideRoute, p.wideConns, round, rps, batch)
		}
	}
	s.addVariant(phaseBatching, variant["window"], 1, wideModel, wideRoute, p.wideConns, 0, 1600, 20)
	for _, v := range threadVariants(p) {
		rps := 4000 * 3 / float64(v.intraOp) * math.Min(1, float64(v.workers)/1.5)
		s.addVariant(phaseThreads, v, v.workers, mlpModel, mlpRoute, p.threadMLPConns, 0, rps, 6)
		if v.intraOp == 1 {
			s.addVariant(phaseThreads, v, v.workers, churnModel, churnRoute, p.threadChurnConns, 0, 30000*float64(v.workers)/2, 1)
		}
	}
}

func (s *Suite) addVariant(phase string, v mlgateVariant, workers int, model, route string, conns, round int, rps, batch float64) {
	id := variantRunID(phase, v, route, conns, round)
	rep := cannedReport("closed", rps, int64(float64(conns)*1e6/rps), int64(float64(conns)*4e6/rps), 0)
	report := "reports/" + id + ".html"
	if round > 0 {
		report = ""
	}
	s.Runs = append(s.Runs, RunResult{
		ID: id, Server: serverMlgate, Phase: phase, Round: round, Instance: v.name, Route: route, Model: model, Batching: v.batching,
		Workers: workers, IntraOpThreads: v.intraOp, Connections: conns, Rows: 1, MeanBatch: batch,
		Summary: summarize(rep), CPUMicrosPerRequest: 1e6 / rps * 0.9, Report: report,
	})
}

// cannedProfiles are profiles of the ceiling and mlgate during their
// headline runs; the ceiling's categories are those of
// testdata/pprof-top-edge.txt.
func cannedProfiles() []Profile {
	top := []ProfileRow{
		{Flat: 1.26, FlatPct: 41.58, Cum: 1.26, CumPct: 41.58, Function: "internal/runtime/syscall/linux.Syscall6"},
		{Flat: 0.45, FlatPct: 14.85, Cum: 0.45, CumPct: 14.85, Function: "runtime.cgocall"},
		{Flat: 0.03, FlatPct: 0.99, Cum: 0.93, CumPct: 30.69, Function: "github.com/mlgate/mlgate/serve.(*Server).invocations"},
	}
	cum := []ProfileRow{
		{Flat: 0.06, FlatPct: 1.98, Cum: 2.85, CumPct: 94.06, Function: "github.com/valyala/fasthttp.(*Server).serveConnCounted"},
		{Flat: 0, FlatPct: 0, Cum: 1.21, CumPct: 39.93, Function: "syscall.RawSyscall6"},
	}
	mk := func(server string, total float64, secs []float64) Profile {
		pr := Profile{Server: server, Run: roundID(clientLoadtest, 6, server), File: profileFile(server), Listing: "cpu-" + server + ".top.txt",
			Seconds: 4, Samples: total, Top: top, TopCum: cum}
		for i, c := range profileCategories {
			pr.Categories = append(pr.Categories, CategoryTime{Name: c.name, Seconds: secs[i], Share: secs[i] / total})
		}
		return pr
	}
	return []Profile{
		mk(serverCeiling, 2.4, []float64{1.6, 0, 0, 0.3, 0.3, 0.2}),
		mk(serverMlgate, 3.03, []float64{1.31, 0.46, 0.13, 0.29, 0.36, 0.48}),
	}
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
