package main

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// registryFile holds the registry-route benchmark's go test output.
const registryFile = "gotest-registry.txt"

// registryBenchmark is the registry-route benchmark in ./cmd/mlgate; its
// sub-benchmarks are named below.
const registryBenchmark = "BenchmarkRegistryRoute"

// registryUnits keeps time per request and the client-measured
// percentiles, and the paired warm run's figures.
const registryUnits = ".unit:(sec/op OR p50-µs OR p99-µs OR p50-ms OR p99-ms OR p50-ratio)"

// registryCompare is benchstat's side-by-side of the configured route and
// the registry route, warm.
var registryCompare = []string{"-filter", "/route:(configured OR registry) .unit:(sec/op OR p50-µs OR p99-µs)", "-col", "/route"}

// RegistryBench is the registry-route benchmark step: a registry route's
// warm latency beside a configured route's serving the same version, and
// cold starts of a small and a larger model.
type RegistryBench struct {
	GoTest GoTest `json:"gotest"`
	// Compare is benchstat's table of the warm configured and registry
	// routes side by side; empty when benchstat could not run.
	Compare string `json:"compare,omitempty"`
	// Metrics are the figures the section states: each benchmark's values
	// in a unit, over the runs.
	Metrics []BenchMetric `json:"metrics,omitempty"`
}

// BenchMetric is one benchmark's value in one unit over its runs.
type BenchMetric struct {
	Name  string   `json:"name"`
	Unit  string   `json:"unit"`
	Value Estimate `json:"value"`
}

// metric returns the estimate of the sub-benchmark sub in unit; N is 0
// when there is none.
func (rb *RegistryBench) metric(sub, unit string) Estimate {
	for _, m := range rb.Metrics {
		if m.Name == registryBenchmark+"/"+sub && m.Unit == unit {
			return m.Value
		}
	}
	return Estimate{}
}

// registryStep is the registry-route benchmark with the plan's count and
// benchtime.
func registryStep(p plan) goTestStep {
	return goTestStep{pkgs: []string{"./cmd/mlgate"}, bench: "Registry",
		count: p.registryCount, benchtime: p.registryBenchtime, units: registryUnits}
}

// runRegistryBench runs st (registryStep) into the results directory's
// registryFile, and reads the figures the section states from its
// output. Failures are recorded in the result, as runGoTest's.
func runRegistryBench(ctx context.Context, repo, results string, st goTestStep, bs benchstatTool, logf func(string, ...any)) *RegistryBench {
	outPath := filepath.Join(results, registryFile)
	rb := &RegistryBench{GoTest: *runGoTest(ctx, repo, outPath, registryFile, st, bs, logf)}
	out, err := os.ReadFile(outPath)
	if err != nil {
		return rb
	}
	rb.Metrics = benchMetrics(out, registryBenchmark+"/")
	if cmp, err := bs.run(ctx, outPath, registryCompare...); err == nil {
		rb.Compare = cmp
	}
	return rb
}

// benchMetrics returns the values of the benchmarks of out whose names
// start with prefix, per unit, over their runs.
func benchMetrics(out []byte, prefix string) []BenchMetric {
	var res []BenchMetric
	for _, bv := range benchValues(out) {
		if !strings.HasPrefix(bv.name, prefix) {
			continue
		}
		for _, unit := range slices.Sorted(maps.Keys(bv.units)) {
			res = append(res, BenchMetric{Name: bv.name, Unit: unit, Value: estimate(bv.units[unit])})
		}
	}
	return res
}
