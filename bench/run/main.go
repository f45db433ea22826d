// Command run is mlgate's benchmark harness, run by `make bench` through
// scripts/bench.sh. In one process it runs three phases, each with its own
// servers, started as subprocesses on free loopback ports and checked
// against known answers before they are measured, and drives them with
// mlgate's own load generator (the loadtest package).
//
// Before anything else it copies examples/registry/mlflow.db into a
// temporary directory, registers testdata/models/mlp256 there as mlp256
// version 1 with the alias champion, checks with `mlgate resolve` that
// mlgate finds it, and writes an mlgate configuration with two routes:
// churn (models:/churn-gbm@champion, the default) and mlp
// (models:/mlp256@champion). Every mlgate of the suite serves it.
//
//   - headline: bin/ceiling (the HTTP ceiling: fasthttp and a fixed
//     answer), bin/mlgate and bin/naive (net/http, encoding/json and
//     onnxruntime_go), all on churn-gbm version 1: a closed loop at 1, 8,
//     32 and 128 connections with one-row requests (32 connections is the
//     saturation point, where the ceiling and mlgate are CPU-profiled
//     through their --pprof endpoints); 16 and 256 rows per request at 32
//     connections (mlgate and naive); an open loop at 10 to 90% of each
//     server's saturation throughput (mlgate and naive).
//   - batching: one mlgate per --batching mode (off, busy, window), closed
//     loop at 1 to 128 connections on churn-gbm and on mlp256, with the
//     mean batch from mlgate's model counters.
//   - threads: one mlgate per --workers and --intra-op-threads pair, on
//     mlp256 at 64 connections and churn-gbm at 32.
//
// It then runs go tool pprof on the profiles and go test -bench on the
// hot-path packages (signature, infer, serve), summarised by benchstat when
// it can be installed through the module proxy.
//
// Outputs, under bench/results/: one HTML report per load run (reports/),
// the servers' logs (logs/), the CPU profiles and their listings, the load
// runs in Go benchmark format appended to bench.txt, the go test output in
// gotest.txt, the latency chart as a self-contained SVG, and suite.json,
// from which the generated section of BENCHMARKS.md (everything below its
// marker line) is rewritten; it compares mlgate's ratios with an earlier
// suite.json (-before). The full suite takes about seven and a half
// minutes on two cores; -quick is a smoke run of every phase, about a
// minute, that writes under bench/results/quick/ and leaves BENCHMARKS.md
// alone.
//
// The harness builds nothing: `make build` builds bin/mlgate and
// scripts/bench.sh builds bin/ceiling and bin/naive. It runs on Linux
// (server CPU time and memory come from /proc). It imports loadtest,
// bench/fixture and the SQLite driver, and no package that runs a server
// or loads a model.
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
	"os/signal"
	"path/filepath"
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
	if opts.before != "" {
		if suite.Before, err = loadBefore(opts.before, opts.results); err != nil {
			return err
		}
	}
	benchPath := filepath.Join(opts.results, benchFile)
	bench, err := os.OpenFile(benchPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer bench.Close()
	// A configuration line that labels every result line of this run, so
	// that benchstat can put runs side by side (-col run).
	fmt.Fprintf(bench, "\nrun: %s\n", runLabel(suite))

	logf("phases %s, servers %s; estimated %s of load and go test, plus start-up and compilation",
		strings.Join(opts.phases, ", "), strings.Join(opts.servers, ", "), p.estimate(opts.servers, opts.phases, opts.goTest).Round(time.Second))
	h := &harness{opts: opts, plan: p, logf: logf, suite: suite, rows: rows, payload: map[int]loadtest.Payload{}, bench: bench}
	if err := h.runSuite(ctx); err != nil {
		return err
	}
	if opts.goTest {
		suite.GoTest = runGoTest(ctx, opts.repo, filepath.Join(opts.results, goTestFile), goTestFile, p, logf)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if suite.GoTest.Failed != "" {
			logf("warning: %s", suite.GoTest.Failed)
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

// removeStaleReports deletes the HTML reports in dir that s does not link:
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
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".html") && !keep[e.Name()] {
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
