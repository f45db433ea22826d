package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// goTestPackages are mlgate's hot-path packages and the model-cost
// benchmark, whose Go benchmarks the suite runs; handlerPackages hold the
// handler benchmarks, run longer for their allocations per operation.
var (
	goTestPackages  = []string{"./signature", "./infer", "./bench/modelcost"}
	handlerPackages = []string{"./serve"}
)

// benchstatPkg is installed into a temporary GOBIN to summarise go test's
// output and the rounds.
const benchstatPkg = "golang.org/x/perf/cmd/benchstat@latest"

// benchstatUnits keeps time, memory and allocations per operation, and
// time per row, out of the benchmarks' units (throughput in B/s says the
// same as time here).
const benchstatUnits = ".unit:(sec/op OR B/op OR allocs/op OR sec/row)"

// GoTest is one go test -bench step.
type GoTest struct {
	// Command is the go test command line.
	Command string `json:"command"`
	// Output is the file holding go test's output, relative to the results
	// directory.
	Output string `json:"output"`
	// Failed says why go test exited with an error (a package that does not
	// build, a failing benchmark); empty when it succeeded.
	Failed string `json:"failed,omitempty"`
	// Summary is benchstat's table of the output, or, when benchstat could
	// not be installed, the raw benchmark lines.
	Summary string `json:"summary"`
	// Benchstat is true when Summary comes from benchstat; NoBenchstat
	// says why it does not.
	Benchstat   bool   `json:"benchstat"`
	NoBenchstat string `json:"no_benchstat,omitempty"`
	// Allocs are each benchmark's allocations per operation over its runs.
	Allocs []BenchAllocs `json:"allocs,omitempty"`
}

// BenchAllocs is one benchmark's allocations per operation: the most and
// the median over its runs.
type BenchAllocs struct {
	Name   string  `json:"name"`
	Runs   int     `json:"runs"`
	Max    float64 `json:"max"`
	Median float64 `json:"median"`
}

// benchstatTool is benchstat installed for one harness run, or why it
// could not be.
type benchstatTool struct {
	bin string
	err error
}

// installBenchstat installs benchstat into a temporary directory through
// the Go module proxy; the caller must call the returned cleanup.
func installBenchstat(ctx context.Context) (benchstatTool, func()) {
	gobin, err := os.MkdirTemp("", "mlgate-benchstat-")
	if err != nil {
		return benchstatTool{err: fmt.Errorf("benchstat: %w", err)}, func() {}
	}
	cleanup := func() { os.RemoveAll(gobin) }
	install := exec.CommandContext(ctx, "go", "install", benchstatPkg)
	install.Dir = gobin
	install.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=")
	if out, err := install.CombinedOutput(); err != nil {
		return benchstatTool{err: fmt.Errorf("go install %s: %v: %s", benchstatPkg, err, firstLine(out))}, cleanup
	}
	return benchstatTool{bin: filepath.Join(gobin, "benchstat")}, cleanup
}

// run runs benchstat with args on the file at path, from the file's
// directory so that its tables are headed by the file's base name.
func (b benchstatTool) run(ctx context.Context, path string, args ...string) (string, error) {
	if b.err != nil {
		return "", b.err
	}
	cmd := exec.CommandContext(ctx, b.bin, append(args, filepath.Base(path))...)
	cmd.Dir = filepath.Dir(path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("benchstat: %v: %s", err, firstLine(stderr.Bytes()))
	}
	return strings.TrimRight(string(out), "\n"), nil
}

// goTestStep is one go test -bench run: which benchmarks, how long, and
// which of their units benchstat summarises.
type goTestStep struct {
	pkgs      []string
	bench     string // the -bench pattern
	benchmem  bool
	count     int
	benchtime string
	units     string // benchstat's -filter
}

// hotPathStep and handlerStep are the hot-path and handler benchmarks with
// the plan's counts and benchtimes.
func hotPathStep(p plan) goTestStep {
	return goTestStep{pkgs: goTestPackages, bench: ".", benchmem: true, count: p.goTestCount, benchtime: p.goTestBenchtime, units: benchstatUnits}
}

func handlerStep(p plan) goTestStep {
	return goTestStep{pkgs: handlerPackages, bench: ".", benchmem: true, count: p.handlerCount, benchtime: p.handlerBenchtime, units: benchstatUnits}
}

// args returns go test's arguments for st.
func (st goTestStep) args() []string {
	args := []string{"test", "-run", "XXX", "-bench", st.bench}
	if st.benchmem {
		args = append(args, "-benchmem")
	}
	args = append(args, "-count="+strconv.Itoa(st.count))
	if st.benchtime != "1s" {
		args = append(args, "-benchtime="+st.benchtime)
	}
	args = append(args, "-timeout=10m")
	return append(args, st.pkgs...)
}

// runGoTest runs st's benchmarks from repo, writes their output to outPath
// (relPath relative to the results directory) and summarises them with
// bs. Failures are recorded in the result, not returned: a package another
// change has broken must not cost the load test numbers.
func runGoTest(ctx context.Context, repo, outPath, relPath string, st goTestStep, bs benchstatTool, logf func(string, ...any)) *GoTest {
	args := st.args()
	gt := &GoTest{Command: "go " + strings.Join(args, " "), Output: relPath}
	logf("running %s", gt.Command)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	if werr := os.WriteFile(outPath, out, 0o644); werr != nil {
		gt.Failed = fmt.Sprintf("write %s: %v", outPath, werr)
		return gt
	}
	if err != nil {
		gt.Failed = fmt.Sprintf("go test: %v; see %s", err, relPath)
	}
	gt.Allocs = benchAllocs(out)
	summary, err := bs.run(ctx, outPath, "-filter", st.units)
	if err != nil {
		gt.NoBenchstat = err.Error()
		gt.Summary = benchmarkLines(out)
		return gt
	}
	gt.Summary, gt.Benchstat = summary, true
	return gt
}

// benchAllocs reads each benchmark's allocs/op from go test output, its
// name without the GOMAXPROCS suffix, in first-seen order.
func benchAllocs(out []byte) []BenchAllocs {
	var res []BenchAllocs
	for _, bv := range benchValues(out) {
		if v := bv.units["allocs/op"]; len(v) > 0 {
			res = append(res, BenchAllocs{Name: bv.name, Runs: len(v), Max: slices.Max(v), Median: estimate(v).Median})
		}
	}
	return res
}

// benchValue is one benchmark's values over its runs, by unit.
type benchValue struct {
	name  string
	units map[string][]float64
}

// benchValues reads every benchmark's values from go test output, by
// name without the GOMAXPROCS suffix, in first-seen order.
func benchValues(out []byte) []benchValue {
	var order []benchValue
	at := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			j, ok := at[name]
			if !ok {
				j = len(order)
				at[name] = j
				order = append(order, benchValue{name: name, units: map[string][]float64{}})
			}
			order[j].units[f[i+1]] = append(order[j].units[f[i+1]], v)
		}
	}
	return order
}

// benchmarkLines keeps the configuration and result lines of go test
// output.
func benchmarkLines(out []byte) string {
	var b strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "pkg: ") ||
			strings.HasPrefix(line, "goos: ") || strings.HasPrefix(line, "goarch: ") || strings.HasPrefix(line, "cpu: ") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
