// Command run is mlgate's benchmark harness, run by `make bench` through
// scripts/bench.sh. In one process it runs its phases, each with its own
// servers, started as subprocesses on free loopback ports and checked
// against known answers before they are measured, driven by mlgate's own
// load generator (the loadtest package) and, in the headline rounds, by
// wrk as a second, independent client.
//
// Before anything else it copies examples/registry/mlflow.db into a
// temporary directory, generates widemlp there (internal/onnxgen),
// registers testdata/models/mlp256 and widemlp as version 1 with the alias
// champion, checks with `mlgate resolve` that mlgate finds them, and
// writes an mlgate configuration with three routes: churn
// (models:/churn-gbm@champion, the default), mlp and wide. Every mlgate of
// the suite serves it.
//
//   - headline: bin/ceiling (the HTTP ceiling: fasthttp and a fixed
//     answer), bin/mlgate and bin/naive (net/http, encoding/json and
//     onnxruntime_go), all on churn-gbm version 1, and with -baseline-bin
//     a second mlgate binary. First the rounds: in each of six rounds,
//     each client drives each server in turn, closed loop at 32
//     connections with one-row requests; figures are medians over rounds
//     and ratios are medians of per-round ratios, with benchstat's 95%
//     confidence interval (the last round's loadtest runs of the ceiling
//     and mlgate are CPU-profiled through their --pprof endpoints). Then
//     single runs: the closed loop at 1, 8 and 128 connections; 16 and
//     256 rows per request at 32 connections (mlgate and naive); an open
//     loop at 10 to 90% of each server's median saturation throughput
//     (mlgate and naive).
//   - batching: one mlgate per --batching mode (off, busy, window): on
//     churn-gbm off and busy in six rounds at 1 to 128 connections; on
//     mlp256 every mode once at 8 and 64; on widemlp off and busy in six
//     rounds at 64, then window; with the mean batch from mlgate's model
//     counters and mlgate's own timing of each model's call.
//   - threads: one mlgate per --workers and --intra-op-threads pair, on
//     mlp256 at 64 connections and churn-gbm at 32.
//   - pgo, only with -pgo FILE: one mlgate profiled under three loads, the
//     profiles merged into FILE (cmd/mlgate/default.pgo for `go build`).
//
// It then runs go tool pprof on the profiles, benchstat on the rounds, and
// go test -bench on the hot-path packages (signature, infer,
// bench/modelcost), longer on the handler benchmarks (serve), whose
// allocations per operation are a goal, and on the registry routes'
// benchmark (cmd/mlgate's BenchmarkRegistryRoute: warm latency beside a
// configured route's, cold-start p50 and p99). The goals (BENCHMARKS.md's
// "Goals") are judged on these figures; a miss does not fail the run.
//
// Outputs, under bench/results/: one HTML report per single load run and
// wrk's output per wrk run (reports/), the servers' logs (logs/), the CPU
// profiles and their listings, the rounds and their per-round ratios in Go
// benchmark format (rounds.txt, and appended to bench.txt with every load
// run), the go test output (gotest.txt, gotest-handler.txt,
// gotest-registry.txt), the latency chart as a self-contained SVG,
// levers.json (each lever's before and after, updated by -lever), and
// suite.json, from which the generated section of BENCHMARKS.md
// (everything below its marker line) is rewritten; it compares mlgate's
// ratios with an earlier suite.json (-before). The load runs and go test
// steps take about fourteen minutes on two cores, a whole make bench
// about twenty; -rounds-only (a -lever run) about two;
// -quick is a smoke run of every phase, about two minutes, that writes
// under bench/results/quick/ and leaves BENCHMARKS.md alone.
//
// The harness builds nothing: `make build` builds bin/mlgate and
// scripts/bench.sh builds bin/ceiling and bin/naive and installs wrk. It
// runs on Linux (server CPU time and memory come from /proc). It imports
// loadtest, bench/fixture, internal/onnxgen and the SQLite driver, and no
// package that runs a server or loads a model.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mlgate/mlgate/loadtest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	opts, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	logger := log.New(stderr, "bench: ", log.Ltime)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.render {
		err = rerender(opts)
	} else {
		err = runAll(ctx, opts, args, logger.Printf)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

// runAll runs the suite and writes every output.
func runAll(ctx context.Context, opts options, args []string, logf func(string, ...any)) error {
	for _, dir := range []string{reportsDir, logsDir} {
		if err := os.MkdirAll(filepath.Join(opts.results, dir), 0o755); err != nil {
			return err
		}
	}
	if slices.Contains(opts.clients, clientWrk) && slices.Contains(opts.phases, phaseHeadline) {
		path, err := exec.LookPath(opts.wrk)
		if err != nil {
			return fmt.Errorf("wrk, the second load generator, is not installed: %w (apt-get install -y wrk, which `make bench` does as root; or -clients %s)", err, clientLoadtest)
		}
		opts.wrk = path
	}
	rows, err := loadRows(filepath.Join(opts.repo, batchInputsPath))
	if err != nil {
		return err
	}
	p := opts.plan()
	suite := &Suite{
		Started: time.Now().UTC(),
		Quick:   opts.quick,
		Command: commandLine(args),
		Machine: describeMachine(ctx, opts.repo),
		Plan:    p.info(),
	}
	suite.Plan.Phases = opts.phases
	suite.Plan.Clients = opts.clients
	if opts.before != "" {
		if suite.Before, err = loadBefore(opts.before, opts.results); err != nil {
			return err
		}
	}
	leversPath := filepath.Join(opts.results, leversFile)
	if suite.Levers, err = loadLevers(leversPath); err != nil {
		return err
	}
	if opts.baselineBin != "" {
		suite.Baseline = &BaselineInfo{Command: displayCommand([]string{opts.baselineBin}, opts.repo),
			Version: binaryVersion(ctx, opts.baselineBin), Lever: opts.lever,
			After: binaryVersion(ctx, filepath.Join(opts.binDir, serverMlgate))}
	}
	label := runLabel(suite)
	benchPath := filepath.Join(opts.results, benchFile)
	bench, err := os.OpenFile(benchPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer bench.Close()
	// A configuration line that labels every result line of this run, so
	// that benchstat can put runs side by side (-col run).
	fmt.Fprintf(bench, "\n")
	writeRoundsHeader(bench, label)
	roundsPath := filepath.Join(opts.results, roundsFile)
	rounds, err := os.Create(roundsPath)
	if err != nil {
		return err
	}
	defer rounds.Close()
	writeRoundsHeader(rounds, label)

	logf("phases %s, servers %s, clients %s; estimated %s of load and go test, plus start-up and compilation",
		strings.Join(opts.phases, ", "), strings.Join(opts.servers, ", "), strings.Join(opts.clients, ", "),
		p.estimate(opts.servers, opts.clients, opts.phases, opts.extraMlgates(), opts.goTest).Round(time.Second))
	h := &harness{opts: opts, plan: p, logf: logf, suite: suite, rows: rows, payload: map[int]loadtest.Payload{}, bench: bench, rounds: rounds}
	if err := h.runSuite(ctx); err != nil {
		return err
	}
	if err := rounds.Close(); err != nil {
		return err
	}
	bs, cleanup := installBenchstat(ctx)
	defer cleanup()
	if suite.Benchstat, err = roundsBenchstat(ctx, bs, roundsPath); err != nil {
		logf("warning: no benchstat summary of the rounds: %v", err)
	}
	if opts.goTest {
		suite.GoTest = runGoTest(ctx, opts.repo, filepath.Join(opts.results, goTestFile), goTestFile,
			hotPathStep(p), bs, logf)
		if ctx.Err() == nil {
			suite.Handler = runGoTest(ctx, opts.repo, filepath.Join(opts.results, handlerFile), handlerFile,
				handlerStep(p), bs, logf)
		}
		if ctx.Err() == nil {
			suite.Registry = runRegistryBench(ctx, opts.repo, opts.results, registryStep(p), bs, logf)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for _, gt := range []*GoTest{suite.GoTest, suite.Handler, &suite.Registry.GoTest} {
			if gt.Failed != "" {
				logf("warning: %s", gt.Failed)
			}
		}
	}
	if opts.lever != "" {
		if r := suite.leverResult(opts.lever); r != nil {
			suite.Levers = withLever(suite.Levers, *r)
			if err := saveLevers(leversPath, suite.Levers); err != nil {
				return err
			}
		} else {
			logf("warning: no before and after for lever %s: the baseline did not run in the headline rounds", opts.lever)
		}
	}
	suite.Finished = time.Now().UTC()
	if err := saveSuite(filepath.Join(opts.results, suiteFile), suite); err != nil {
		return err
	}
	if err := writeOutputs(opts, suite); err != nil {
		return err
	}
	if err := removeStaleReports(filepath.Join(opts.results, reportsDir), suite); err != nil {
		return err
	}
	logf("wrote %s and %s", opts.out, opts.results)
	logf("total time of the harness: %s", suite.Finished.Sub(suite.Started).Round(time.Second))
	return nil
}

// rerender rewrites the outputs from a saved suite.json.
func rerender(opts options) error {
	b, err := os.ReadFile(filepath.Join(opts.results, suiteFile))
	if err != nil {
		return err
	}
	var s Suite
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s: %w", suiteFile, err)
	}
	// levers.json holds each lever's latest before and after, which may
	// have been measured after the suite.
	levers, err := loadLevers(filepath.Join(opts.results, leversFile))
	if err != nil {
		return err
	}
	if levers != nil {
		s.Levers = levers
	}
	return writeOutputs(opts, &s)
}

// writeOutputs writes the latency chart and BENCHMARKS.md for s.
func writeOutputs(opts options, s *Suite) error {
	chart := ""
	if svg := latencyChartSVG("Latency against offered load (open loop, one row per request)", latencySeries(s)); svg != "" {
		chart = chartFile
		if err := os.WriteFile(filepath.Join(opts.results, chartFile), []byte(svg), 0o644); err != nil {
			return err
		}
	}
	base, err := filepath.Rel(filepath.Dir(opts.out), opts.results)
	if err != nil {
		return err
	}
	existing, err := os.ReadFile(opts.out)
	if errors.Is(err, os.ErrNotExist) {
		existing, err = nil, nil
	}
	if err != nil {
		return err
	}
	md, err := replaceGenerated(existing, renderMarkdown(s, filepath.ToSlash(base), chart))
	if err != nil {
		return fmt.Errorf("%s: %w", opts.out, err)
	}
	return os.WriteFile(opts.out, md, 0o644)
}

func saveSuite(path string, s *Suite) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// removeStaleReports deletes the HTML reports and wrk outputs in dir that
// s does not link:
// those of earlier runs with other scenarios. It runs only after a
// successful run, so that a failed run leaves the previous BENCHMARKS.md's
// links intact.
func removeStaleReports(dir string, s *Suite) error {
	keep := map[string]bool{}
	for _, r := range s.Runs {
		keep[filepath.Base(r.Report)] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		report := strings.HasSuffix(e.Name(), ".html") || strings.HasSuffix(e.Name(), ".wrk.txt")
		if !e.IsDir() && report && !keep[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// runLabel names a run in bench.txt: its start time and commit.
func runLabel(s *Suite) string {
	return s.Started.Format("20060102T150405Z") + "-" + strings.ReplaceAll(s.Machine.Commit, " ", "_")
}

// commandLine is the command that reproduces the run.
func commandLine(args []string) string {
	if len(args) == 0 {
		return "make bench"
	}
	return "./scripts/bench.sh " + strings.Join(args, " ")
}
