package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/mlgate/mlgate/loadtest"
)

// Server names, in the order the harness runs and reports them.
const (
	serverCeiling = "ceiling"
	serverMlgate  = "mlgate"
	serverNaive   = "naive"
)

// allServers lists every server the harness knows.
var allServers = []string{serverCeiling, serverMlgate, serverNaive}

// Phases of the suite.
const (
	// phaseClosed is a closed-loop run: the connection sweep and the batch
	// sizes.
	phaseClosed = "closed"
	// phaseOpen is an open-loop run at a fraction of a server's saturation.
	phaseOpen = "open"
)

// Suite is everything one harness run measured. suite.json holds it, and
// BENCHMARKS.md is rendered from it alone, so a saved suite renders again
// without running anything.
type Suite struct {
	// Started and Finished bound the whole run, in UTC.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Quick is true for a smoke run whose numbers are not representative.
	Quick bool `json:"quick"`
	// Command is the command line that produced the suite.
	Command string  `json:"command"`
	Machine Machine `json:"machine"`
	// Plan records the durations and parameters the suite ran with.
	Plan PlanInfo `json:"plan"`
	// Servers are the servers that ran, in run order.
	Servers []ServerInfo `json:"servers"`
	// Runs are the load test runs in the order they ran.
	Runs []RunResult `json:"runs"`
	// GoTest is the go test -bench step; nil when it was skipped.
	GoTest *GoTest `json:"gotest"`
}

// PlanInfo is the part of the plan a reader of BENCHMARKS.md needs.
type PlanInfo struct {
	Warmup          string    `json:"warmup"`
	Duration        string    `json:"duration"`
	OpenWarmup      string    `json:"open_warmup"`
	OpenDuration    string    `json:"open_duration"`
	HeadlineConns   int       `json:"headline_connections"`
	SweepConns      []int     `json:"sweep_connections"`
	BatchRows       []int     `json:"batch_rows"`
	LoadFractions   []float64 `json:"load_fractions"`
	MaxInFlight     int       `json:"max_inflight"`
	GoTestCount     int       `json:"gotest_count"`
	GoTestBenchtime string    `json:"gotest_benchtime"`
}

// Machine describes where the suite ran.
type Machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	ORTVersion string `json:"onnxruntime_version"`
	// Commit is `git describe --always --dirty` of the checkout.
	Commit string `json:"commit"`
}

// ServerInfo describes one server process.
type ServerInfo struct {
	Name string `json:"name"`
	// Command is the command line it ran with, its listen address
	// written as ADDR.
	Command string `json:"command"`
	// ReadySeconds is the time from start until it answered ready.
	ReadySeconds float64 `json:"ready_s"`
	// PeakRSSKiB is the peak resident set size (VmHWM) at the end of the
	// suite; 0 when unknown.
	PeakRSSKiB int64 `json:"peak_rss_kib"`
	// Log is the file holding its standard output and error, relative to
	// the results directory.
	Log string `json:"log"`
}

// RunResult is one load test run against one server.
type RunResult struct {
	// ID names the run uniquely within the suite and is its report's file
	// stem, e.g. "closed-c32-r1-mlgate".
	ID     string `json:"id"`
	Server string `json:"server"`
	Phase  string `json:"phase"`
	// Connections is the closed loop's connection count.
	Connections int `json:"connections,omitempty"`
	// Rows is the number of rows per request.
	Rows int `json:"rows"`
	// Fraction is the open loop's offered load as a fraction of the
	// server's saturation throughput; Rate is that load in requests per
	// second.
	Fraction float64 `json:"fraction,omitempty"`
	Rate     float64 `json:"rate,omitempty"`
	Summary  Summary `json:"summary"`
	// CPUMicrosPerRequest is the server's CPU time (user + system) over the
	// run, warmup included, per request sent; 0 when unknown.
	CPUMicrosPerRequest float64 `json:"cpu_us_per_request"`
	// Report is the HTML report's path relative to the results directory.
	Report string `json:"report"`
}

// Summary is the part of a loadtest.Report the tables show. Latencies are
// in microseconds.
type Summary struct {
	Scheduled  int64   `json:"scheduled"`
	Responses  int64   `json:"responses"`
	OK         int64   `json:"ok"`
	Errors     int64   `json:"errors"`
	Late       int64   `json:"late"`
	Warmup     int64   `json:"warmup"`
	Elapsed    float64 `json:"elapsed_s"`
	Throughput float64 `json:"ok_rps"`
	P50        int64   `json:"p50_us"`
	P90        int64   `json:"p90_us"`
	P99        int64   `json:"p99_us"`
	P999       int64   `json:"p999_us"`
	Max        int64   `json:"max_us"`
	// ServiceP50 and ServiceP99 are measured from the actual send rather
	// than the intended one; they differ from P50 and P99 in the open loop
	// when requests are sent late.
	ServiceP50 int64 `json:"service_p50_us"`
	ServiceP99 int64 `json:"service_p99_us"`
	// Interrupted is true when the run was cut short.
	Interrupted bool `json:"interrupted"`
	// Failures break Errors down: "HTTP 429 ×146", "timeout ×3",
	// "unsent ×2".
	Failures []string `json:"failures,omitempty"`
}

// summarize keeps what the tables need from r. Throughput counts 2xx
// responses only: an error answered fast is not throughput.
func summarize(r *loadtest.Report) Summary {
	q := r.Requests
	return Summary{
		Scheduled:   q.Scheduled,
		Responses:   q.Responses,
		OK:          q.OK,
		Errors:      q.Errors(),
		Late:        q.Late,
		Warmup:      q.Warmup,
		Elapsed:     r.ElapsedSeconds,
		Throughput:  r.Throughput.OK,
		P50:         r.Latency.P50,
		P90:         r.Latency.P90,
		P99:         r.Latency.P99,
		P999:        r.Latency.P999,
		Max:         r.Latency.Max,
		ServiceP50:  r.ServiceTime.P50,
		ServiceP99:  r.ServiceTime.P99,
		Interrupted: r.Interrupted,
		Failures:    failures(r),
	}
}

// failures lists r's non-2xx statuses, transport error kinds and unsent
// requests with their counts.
func failures(r *loadtest.Report) []string {
	var out []string
	for _, sc := range r.Statuses {
		if sc.Status < 200 || sc.Status > 299 {
			out = append(out, fmt.Sprintf("HTTP %d ×%d", sc.Status, sc.Count))
		}
	}
	for _, ec := range r.TransportErrors {
		out = append(out, fmt.Sprintf("%s ×%d", ec.Kind, ec.Count))
	}
	if r.Requests.Unsent > 0 {
		out = append(out, fmt.Sprintf("unsent ×%d", r.Requests.Unsent))
	}
	return out
}

// ratio returns a/b, or NaN when either is not a positive number: a ratio
// with a missing or failed run is unknown, not zero or infinite.
func ratio(a, b float64) float64 {
	if !(a > 0) || !(b > 0) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return math.NaN()
	}
	return a / b
}

// closedRun returns the closed-loop run of server at conns connections and
// rows rows per request, or nil.
func (s *Suite) closedRun(server string, conns, rows int) *RunResult {
	for i := range s.Runs {
		r := &s.Runs[i]
		if r.Phase == phaseClosed && r.Server == server && r.Connections == conns && r.Rows == rows {
			return r
		}
	}
	return nil
}

// openRuns returns server's open-loop runs by increasing offered load.
func (s *Suite) openRuns(server string) []*RunResult {
	var out []*RunResult
	for i := range s.Runs {
		if r := &s.Runs[i]; r.Phase == phaseOpen && r.Server == server {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b *RunResult) int { return cmp.Compare(a.Rate, b.Rate) })
	return out
}

// throughput returns r's 2xx throughput, NaN for a missing run.
func throughput(r *RunResult) float64 {
	if r == nil {
		return math.NaN()
	}
	return r.Summary.Throughput
}

// p99 returns r's p99 latency in microseconds, NaN for a missing run or
// one without responses.
func p99(r *RunResult) float64 {
	if r == nil || r.Summary.Responses == 0 {
		return math.NaN()
	}
	return float64(r.Summary.P99)
}

// ranServer reports whether the suite ran server.
func (s *Suite) ranServer(name string) bool {
	for _, sv := range s.Servers {
		if sv.Name == name {
			return true
		}
	}
	return false
}
