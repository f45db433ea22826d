package main

import (
	"fmt"
	"strings"
	"testing"
)

// cannedRegistryOutput is go test output of BenchmarkRegistryRoute over
// six runs, each figure varied by up to 3% from run to run, after another
// package's benchmark that must not be read as its.
func cannedRegistryOutput() []byte {
	var b strings.Builder
	b.WriteString("goos: linux\ngoarch: amd64\npkg: github.com/mlgate/mlgate/cmd/mlgate\ncpu: AMD EPYC 7B13\n")
	b.WriteString("BenchmarkOther-2   100   5000 ns/op   1.5 p50-ms\n")
	for run := range 6 {
		j := 1 + float64(run%3-1)*0.03
		fmt.Fprintf(&b, "BenchmarkRegistryRoute/warm/route=configured-2   9000   %.0f ns/op   %.2f p50-µs   %.1f p99-µs\n", 61000*j, 46*j, 170*j)
		fmt.Fprintf(&b, "BenchmarkRegistryRoute/warm/route=registry-2   9000   %.0f ns/op   %.2f p50-µs   %.1f p99-µs\n", 62000*j, 47*j, 180*j)
		fmt.Fprintf(&b, "BenchmarkRegistryRoute/warm-paired-2   4000   %.0f ns/op   %.3f p50-ratio   46 p50-µs-configured   47 p50-µs-registry\n", 124000*j, 1.01*j)
		for _, k := range []struct {
			name             string
			cold, first, p99 float64
		}{{"small", 8, 25, 2.2}, {"larger", 18, 46, 1.8}} {
			fmt.Fprintf(&b, "BenchmarkRegistryRoute/cold/model=%s-2   60   %.0f ns/op   %.3f p50-ms   %.2f p99-ms\n", k.name, k.cold*1.1e6*j, k.cold*j, k.cold*k.p99*j)
			fmt.Fprintf(&b, "BenchmarkRegistryRoute/first/model=%s-2   20   %.0f ns/op   %.3f p50-ms   %.2f p99-ms\n", k.name, k.first*1.1e6*j, k.first*j, k.first*k.p99*j)
		}
	}
	b.WriteString("PASS\nok  \tgithub.com/mlgate/mlgate/cmd/mlgate\t30.5s\n")
	return []byte(b.String())
}

// cannedRegistry is the registry-route step of cannedSuite.
func cannedRegistry() *RegistryBench {
	return &RegistryBench{
		GoTest: GoTest{
			Command:   "go " + strings.Join(registryStep(fullPlan()).args(), " "),
			Output:    registryFile,
			Summary:   "pkg: github.com/mlgate/mlgate/cmd/mlgate\nRegistryRoute/warm/route=registry-2   62.00µ ± 3%",
			Benchstat: true,
		},
		Compare: "RegistryRoute/warm-2   61.00µ ± 3%   62.00µ ± 3%  ~ (p=0.180 n=6)",
		Metrics: benchMetrics(cannedRegistryOutput(), registryBenchmark+"/"),
	}
}

func TestRegistryStep(t *testing.T) {
	got := "go " + strings.Join(registryStep(fullPlan()).args(), " ")
	if want := "go test -run XXX -bench Registry -count=6 -benchtime=500ms -timeout=10m ./cmd/mlgate"; got != want {
		t.Errorf("command %q; want %q", got, want)
	}
	// The other steps' command lines are as before.
	if got := "go " + strings.Join(hotPathStep(fullPlan()).args(), " "); got != cannedSuite().GoTest.Command {
		t.Errorf("hot-path command %q; want %q", got, cannedSuite().GoTest.Command)
	}
}

func TestBenchMetrics(t *testing.T) {
	rb := &RegistryBench{Metrics: benchMetrics(cannedRegistryOutput(), registryBenchmark+"/")}
	for _, c := range []struct {
		sub, unit string
		median    float64
	}{
		{"warm/route=registry", "ns/op", 62000},
		{"warm/route=configured", "p99-µs", 170},
		{"warm-paired", "p50-ratio", 1.01},
		{"cold/model=small", "p50-ms", 8},
		{"first/model=larger", "p99-ms", 46 * 1.8},
	} {
		e := rb.metric(c.sub, c.unit)
		if e.N != 6 || fmt.Sprintf("%.4g", e.Median) != fmt.Sprintf("%.4g", c.median) || !e.hasCI() {
			t.Errorf("%s %s: %+v; want the median %g of 6 runs with an interval", c.sub, c.unit, e, c.median)
		}
	}
	if e := rb.metric("warm/route=registry", "p50-ms"); e.known() {
		t.Errorf("a unit the benchmark does not report: %+v", e)
	}
	for _, m := range rb.Metrics {
		if !strings.HasPrefix(m.Name, registryBenchmark+"/") {
			t.Errorf("read %s as a registry-route figure", m.Name)
		}
	}
}

func TestRegistrySection(t *testing.T) {
	s := cannedSuite()
	got := renderMarkdown(s, "bench/results", "")
	for _, want := range []string{
		"### Registry routes: warm latency and cold starts",
		"took **62.0 µs** (95% CI 60.1–63.9) through the\n  registry route",
		"and **61.0 µs** (95% CI 59.2–62.8) through the configured\n  route",
		"registry route's p50 was **1.01× (95% CI 0.98–1.04×, 6 runs)** the configured route's",
		"**Cold start, small model** (labelprobs, 541 B): p50 **8.00 ms** (95% CI 7.76–8.24), p99 **17.6 ms**",
		"**Cold start, larger model** (mlp256, 1.5 MB of weights): p50 **18.0 ms**",
		"included: p50 **46.0 ms** (95% CI 44.6–47.4), p99 **82.8 ms**",
		"`go test -run XXX -bench Registry -count=6 -benchtime=500ms -timeout=10m ./cmd/mlgate`",
		"gotest-registry.txt",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the section lacks %q", want)
		}
	}
	s.Registry = nil
	if got := renderMarkdown(s, "bench/results", ""); strings.Contains(got, "Registry routes") {
		t.Error("a section without the registry-route step")
	}
	s.Registry = &RegistryBench{GoTest: GoTest{Command: "go test", Output: registryFile, Failed: "exit status 1"}}
	got = renderMarkdown(s, "bench/results", "")
	if !strings.Contains(got, "through the\n  registry route") || !strings.Contains(got, "n/a (see the output)") || !strings.Contains(got, "**go test failed**") {
		t.Error("a failed step: want n/a figures and the failure")
	}
}
