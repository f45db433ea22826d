package loadtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"unicode"
)

// WriteBenchstat writes the report in the Go benchmark data format
// (golang.org/design/14313-benchmark-format), which benchstat reads:
// configuration lines, unit metadata lines, then one result line for the
// whole run, "BenchmarkLoad/<name>", and one per target,
// "BenchmarkLoad/<name>/target=<label>". The iteration count is the number
// of responses, and ns/op is the elapsed time per response (the inverse of
// the total throughput), so both read as Go benchmark results do. Latencies
// are in nanoseconds, at the report's microsecond resolution. Whitespace in
// name and labels becomes "_".
func (r *Report) WriteBenchstat(w io.Writer, name string) error {
	name = benchToken(name)
	if name == "" {
		return errors.New("benchstat: empty benchmark name")
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "goos: %s\ngoarch: %s\n", runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(bw, "loadtest-mode: %s\n", r.Config.Mode)
	if r.Config.Mode == "open" {
		fmt.Fprintf(bw, "loadtest-rate: %s\n", fmtFloat(r.Config.Rate))
	} else {
		fmt.Fprintf(bw, "loadtest-connections: %d\n", r.Config.Connections)
	}
	fmt.Fprintf(bw, "loadtest-endpoint: %s\n", r.Config.Endpoint)
	for _, u := range []string{"req/s", "ok-req/s"} {
		fmt.Fprintf(bw, "Unit %s better=higher\n", u)
	}

	line := func(sub string, n int64, elapsedNs float64, rps, okRps float64, l Latency, errRatio float64, withErr bool) {
		fmt.Fprintf(bw, "BenchmarkLoad/%s%s %d", name, sub, n)
		if n > 0 && elapsedNs > 0 {
			fmt.Fprintf(bw, " %s ns/op", benchFloat(elapsedNs/float64(n), 1))
		}
		fmt.Fprintf(bw, " %s req/s %s ok-req/s", benchFloat(rps, 2), benchFloat(okRps, 2))
		for _, v := range []struct {
			us   int64
			unit string
		}{{l.P50, "p50-ns"}, {l.P90, "p90-ns"}, {l.P99, "p99-ns"}, {l.P999, "p99.9-ns"}, {l.Max, "max-ns"}} {
			fmt.Fprintf(bw, " %d %s", v.us*1000, v.unit)
		}
		if withErr {
			fmt.Fprintf(bw, " %s errors/op", strconv.FormatFloat(errRatio, 'g', 6, 64))
		}
		bw.WriteByte('\n')
	}
	q := r.Requests
	errRatio := 0.0
	if q.Scheduled > 0 {
		errRatio = float64(q.Errors()) / float64(q.Scheduled)
	}
	elapsedNs := r.ElapsedSeconds * 1e9
	line("", q.Responses, elapsedNs, r.Throughput.Total, r.Throughput.OK, r.Latency, errRatio, true)
	for _, t := range r.Targets {
		rps, okRps := 0.0, 0.0
		if r.ElapsedSeconds > 0 {
			rps = float64(t.Responses) / r.ElapsedSeconds
			okRps = float64(t.OK) / r.ElapsedSeconds
		}
		line("/target="+benchToken(t.Label), t.Responses, 0, rps, okRps, t.Latency, 0, false)
	}
	return bw.Flush()
}

// benchToken makes s usable inside a benchmark name: no whitespace.
func benchToken(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return '_'
		}
		return r
	}, strings.TrimSpace(s))
}

// benchFloat formats v with the given decimals, dropping trailing zeros.
func benchFloat(v float64, decimals int) string {
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	return s
}
