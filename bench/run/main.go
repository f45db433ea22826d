// Command run is mlgate's benchmark harness, run by `make bench` through
// scripts/bench.sh. In one process it starts three servers as subprocesses
// on free loopback ports — bin/ceiling (the HTTP ceiling: fasthttp and a
// fixed answer), bin/mlgate (serve --config examples/mlgate.yaml) and
// bin/naive (net/http, encoding/json and onnxruntime_go) — checks that each
// answers churn-gbm version 1's first example row correctly, and drives them
// in turn with the same load from mlgate's loadtest package:
//
//   - a closed loop at 1, 8, 32 and 128 connections with one-row requests
//     (32 connections is the headline saturation point);
//   - a closed loop at 32 connections with 16 and 256 rows per request
//     (mlgate and naive);
//   - an open loop at 10, 25, 50, 75 and 90% of each server's saturation
//     throughput (mlgate and naive), for latency against offered load.
//
// It then stops the servers and runs go test -bench on the hot-path
// packages (signature, infer, serve), summarised by benchstat when it can
// be installed through the module proxy.
//
// Outputs, under bench/results/: one HTML report per load run (reports/),
// the servers' logs (logs/), the load runs in Go benchmark format appended
// to bench.txt, the go test output in gotest.txt, the latency chart as a
// self-contained SVG, and suite.json, from which the generated section of
// BENCHMARKS.md (everything below its marker line) is rewritten. The full
// suite takes about seven minutes on two cores; -quick is a smoke run of
// about a minute that writes under bench/results/quick/ and leaves
// BENCHMARKS.md alone.
//
// The harness builds nothing: `make build` builds bin/mlgate and
// scripts/bench.sh builds bin/ceiling and bin/naive. It runs on Linux
// (server CPU time and memory come from /proc). It imports loadtest and
// bench/fixture, and no package that runs a server or loads a model.
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
	benchPath := filepath.Join(opts.results, benchFile)
	bench, err := os.OpenFile(benchPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer bench.Close()
	// A configuration line that labels every result line of this run, so
	// that benchstat can put runs side by side (-col run).
	fmt.Fprintf(bench, "\nrun: %s\n", runLabel(suite))

	logf("servers %s; estimated %s of load and go test, plus start-up and compilation",
		strings.Join(opts.servers, ", "), p.estimate(opts.servers, opts.goTest).Round(time.Second))
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
	logf("wrote %s and %s in %s", opts.out, opts.results, suite.Finished.Sub(suite.Started).Round(time.Second))
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
