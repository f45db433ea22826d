package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// goTestPackages are mlgate's hot-path packages, whose Go benchmarks the
// suite runs.
var goTestPackages = []string{"./signature", "./infer", "./serve"}

// benchstatPkg is installed into a temporary GOBIN to summarise go test's
// output.
const benchstatPkg = "golang.org/x/perf/cmd/benchstat@latest"

// benchstatUnits keeps time, memory and allocations per operation out of
// the benchmarks' units (throughput in B/s says the same as time here).
const benchstatUnits = ".unit:(sec/op OR B/op OR allocs/op)"

// GoTest is the go test -bench step.
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
}

// runGoTest runs the hot-path packages' benchmarks from repo, writes their
// output to outPath (relPath relative to the results directory) and
// summarises them. Failures are recorded in the result, not returned: a
// package another change has broken must not cost the load test numbers.
func runGoTest(ctx context.Context, repo, outPath, relPath string, p plan, logf func(string, ...any)) *GoTest {
	args := []string{"test", "-run", "XXX", "-bench", ".", "-benchmem", "-count=" + strconv.Itoa(p.goTestCount)}
	if p.goTestBenchtime != "1s" {
		args = append(args, "-benchtime="+p.goTestBenchtime)
	}
	args = append(args, "-timeout=10m")
	args = append(args, goTestPackages...)
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
	summary, err := benchstat(ctx, outPath)
	if err != nil {
		gt.NoBenchstat = err.Error()
		gt.Summary = benchmarkLines(out)
		return gt
	}
	gt.Summary, gt.Benchstat = summary, true
	return gt
}

// benchstat installs benchstat into a temporary directory through the Go
// module proxy and runs it on the file at path, from the file's directory
// so that its tables are headed by the file's base name.
func benchstat(ctx context.Context, path string) (string, error) {
	gobin, err := os.MkdirTemp("", "mlgate-benchstat-")
	if err != nil {
		return "", fmt.Errorf("benchstat: %w", err)
	}
	defer os.RemoveAll(gobin)
	install := exec.CommandContext(ctx, "go", "install", benchstatPkg)
	install.Dir = gobin
	install.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=")
	if out, err := install.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %v: %s", benchstatPkg, err, firstLine(out))
	}
	cmd := exec.CommandContext(ctx, filepath.Join(gobin, "benchstat"), "-filter", benchstatUnits, filepath.Base(path))
	cmd.Dir = filepath.Dir(path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("benchstat: %v: %s", err, firstLine(stderr.Bytes()))
	}
	return strings.TrimRight(string(out), "\n"), nil
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
