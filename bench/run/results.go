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
	// serverBaseline is a second mlgate binary (-baseline-bin) that the
	// headline rounds run next to bin/mlgate, for a before and after of
	// one change in the same run.
	serverBaseline = "mlgate-baseline"
	// serverStatus is bin/mlgate again, with its status page open during
	// each run (-status-page): a poller reads GET /admin/status as the
	// page does, so that the rounds show what an open page costs.
	serverStatus = "mlgate-status"
)

// allServers lists every server -servers can name.
var allServers = []string{serverCeiling, serverMlgate, serverNaive}

// Load generators of the headline rounds, as -clients names them.
const (
	// clientLoadtest is mlgate's own load generator, the loadtest
	// package, running in the harness process.
	clientLoadtest = "loadtest"
	// clientWrk is wrk (the apt package), an independent client.
	clientWrk = "wrk"
)

// allClients lists the clients in run order.
var allClients = []string{clientLoadtest, clientWrk}

// Phases of the suite, in the order they run, as -phases names them.
const (
	// phaseHeadline compares mlgate with the ceiling and naive: its runs
	// are of the kinds phaseClosed and phaseOpen.
	phaseHeadline = "headline"
	// phaseBatching is a closed-loop run of one mlgate per batching mode.
	phaseBatching = "batching"
	// phaseThreads is a closed-loop run of one mlgate per workers and
	// intra-op threads setting.
	phaseThreads = "threads"
	// phasePGO profiles mlgate under load and merges the profiles into a
	// PGO profile (-pgo). It runs only when asked.
	phasePGO = "pgo"
)

// allPhases lists the phases in run order; defaultPhases are those a run
// without -phases makes.
var (
	allPhases     = []string{phaseHeadline, phaseBatching, phaseThreads, phasePGO}
	defaultPhases = []string{phaseHeadline, phaseBatching, phaseThreads}
)

// Kinds of the headline phase's runs, recorded as RunResult.Phase.
const (
	// phaseClosed is a closed-loop run: the connection sweep and the batch
	// sizes.
	phaseClosed = "closed"
	// phaseOpen is an open-loop run at a fraction of a server's saturation.
	phaseOpen = "open"
	// phaseRound is a closed-loop run of the headline rounds: one row per
	// request at the headline connection count, one client, one round.
	phaseRound = "round"
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
	// Problems are what went wrong without stopping the suite: servers
	// that exited before their phase ended, and the runs that were
	// therefore skipped or cut short.
	Problems []string `json:"problems,omitempty"`
	// Profiles are the CPU profiles taken during the headline runs at
	// HeadlineConns connections, in server order.
	Profiles []Profile `json:"profiles,omitempty"`
	// Before is the earlier suite this one is compared with; nil when none
	// was given.
	Before *Before `json:"before,omitempty"`
	// GoTest is the go test -bench step; nil when it was skipped.
	GoTest *GoTest `json:"gotest"`
	// Handler is the handler benchmarks' go test step, whose allocations
	// per operation are a goal; nil when it was skipped.
	Handler *GoTest `json:"handler,omitempty"`
	// Registry is the registry-route benchmark's go test step; nil when it
	// was skipped.
	Registry *RegistryBench `json:"registry,omitempty"`
	// Benchstat is benchstat's summary of the rounds (rounds.txt); empty
	// when benchstat could not run.
	Benchstat string `json:"benchstat,omitempty"`
	// Calibrations are the batching phase's busy mlgate's own timings of
	// each model's ONNX Runtime call, from GET /admin/models.
	Calibrations []ModelCalibration `json:"calibrations,omitempty"`
	// Baseline describes the -baseline-bin mlgate; nil without one.
	Baseline *BaselineInfo `json:"baseline,omitempty"`
	// Levers are the before-and-after measurements of each performance
	// change, from the results directory's levers.json, this run's
	// included.
	Levers []LeverResult `json:"levers,omitempty"`
	// PGO describes the PGO profile the pgo phase wrote; nil when it did
	// not run.
	PGO *PGOInfo `json:"pgo,omitempty"`
}

// ModelCalibration is what mlgate measured when it loaded a model to
// choose its workers (infer's calibration): the fastest one-row call on its
// example and, for an expensive call, the fastest call on several copies
// of it, per row.
type ModelCalibration struct {
	Model string `json:"model"`
	// Instance is the mlgate process that reported it.
	Instance        string `json:"instance"`
	OneRowNs        int64  `json:"one_row_ns"`
	BatchedPerRowNs int64  `json:"batched_per_row_ns,omitempty"`
	Workers         int    `json:"workers"`
	Choice          string `json:"choice"`
}

// PlanInfo is the part of the plan a reader of BENCHMARKS.md needs.
type PlanInfo struct {
	Warmup        string `json:"warmup"`
	Duration      string `json:"duration"`
	OpenWarmup    string `json:"open_warmup"`
	OpenDuration  string `json:"open_duration"`
	HeadlineConns int    `json:"headline_connections"`
	Rounds        int    `json:"rounds,omitempty"`
	RoundWarmup   string `json:"round_warmup,omitempty"`
	RoundDuration string `json:"round_duration,omitempty"`
	WrkThreads    int    `json:"wrk_threads,omitempty"`
	// Clients are the load generators of the headline rounds.
	Clients       []string  `json:"clients,omitempty"`
	SweepConns    []int     `json:"sweep_connections"`
	BatchRows     []int     `json:"batch_rows"`
	LoadFractions []float64 `json:"load_fractions"`
	MaxInFlight   int       `json:"max_inflight"`
	// Phases are the phases that ran.
	Phases           []string `json:"phases,omitempty"`
	BatchingModes    []string `json:"batching_modes,omitempty"`
	BatchingConns    []int    `json:"batching_connections,omitempty"`
	BatchWarmup      string   `json:"batch_warmup,omitempty"`
	BatchDuration    string   `json:"batch_duration,omitempty"`
	MLPConns         []int    `json:"mlp_connections,omitempty"`
	WideConns        int      `json:"wide_connections,omitempty"`
	ThreadWorkers    []int    `json:"thread_workers,omitempty"`
	ThreadIntraOp    []int    `json:"thread_intra_op,omitempty"`
	ThreadMLPConns   int      `json:"thread_mlp_connections,omitempty"`
	ThreadChurnConns int      `json:"thread_churn_connections,omitempty"`
	PhaseWarmup      string   `json:"phase_warmup,omitempty"`
	PhaseDuration    string   `json:"phase_duration,omitempty"`
	// ProfileSeconds is the length of each CPU profile.
	ProfileSeconds int `json:"profile_seconds,omitempty"`
	// ProtocolRows, ProtocolRounds and the windows are the protocol
	// rounds'.
	ProtocolRows      []int  `json:"protocol_rows,omitempty"`
	ProtocolRounds    int    `json:"protocol_rounds,omitempty"`
	ProtocolWarmup    string `json:"protocol_warmup,omitempty"`
	ProtocolDuration  string `json:"protocol_duration,omitempty"`
	GoTestCount       int    `json:"gotest_count"`
	GoTestBenchtime   string `json:"gotest_benchtime"`
	HandlerCount      int    `json:"handler_count,omitempty"`
	HandlerBenchtime  string `json:"handler_benchtime,omitempty"`
	RegistryCount     int    `json:"registry_count,omitempty"`
	RegistryBenchtime string `json:"registry_benchtime,omitempty"`
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
	// Name is the server's name in the headline phase (ceiling, mlgate,
	// naive) and the mlgate instance's name in the others
	// ("mlgate-batching-off", "mlgate-w1-i2").
	Name string `json:"name"`
	// Phase is the phase the process ran in.
	Phase string `json:"phase,omitempty"`
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
	// stem, e.g. "closed-c32-r1-mlgate", "batching-off-mlp-c64".
	ID     string `json:"id"`
	Server string `json:"server"`
	// Phase is phaseRound, phaseClosed or phaseOpen for the headline
	// phase's runs, phaseBatching or phaseThreads for the others'.
	Phase string `json:"phase"`
	// Client is the load generator, clientLoadtest or clientWrk; empty
	// means loadtest (suites from before wrk).
	Client string `json:"client,omitempty"`
	// Round is the run's round, from 1, in an interleaved comparison (the
	// headline rounds, the churn-gbm and widemlp batching rounds); 0 for a
	// single run.
	Round int `json:"round,omitempty"`
	// Instance names the mlgate process of a batching or threads run
	// (ServerInfo.Name); empty in the headline phase, whose processes are
	// named by Server.
	Instance string `json:"instance,omitempty"`
	// Route is the mlgate route the requests went to; empty for the
	// default route.
	Route string `json:"route,omitempty"`
	// Protocol is a protocol round's scoring protocol (protocolV2JSON,
	// ...); empty for every other run, which is MLflow's /invocations.
	Protocol string `json:"protocol,omitempty"`
	// Model is the registered model served in a batching or threads run:
	// churn-gbm or mlp256.
	Model string `json:"model,omitempty"`
	// Batching, Workers and IntraOpThreads are the mlgate instance's
	// settings in a batching or threads run: Workers is --workers when
	// given, else what mlgate reported (0 when it did not), and
	// IntraOpThreads is 0 for mlgate's default.
	Batching       string `json:"batching,omitempty"`
	Workers        int    `json:"workers,omitempty"`
	IntraOpThreads int    `json:"intra_op_threads,omitempty"`
	// MeanBatch is the mean number of requests per ONNX Runtime call over
	// the run, warmup included, from mlgate's model counters in GET
	// /admin/models; 0 when unknown.
	MeanBatch float64 `json:"mean_batch,omitempty"`
	// StatusPolls counts the status page's reads of /admin/status during
	// a run of serverStatus, StatusPollErrors those that failed.
	StatusPolls      int `json:"status_polls,omitempty"`
	StatusPollErrors int `json:"status_poll_errors,omitempty"`
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
	// run per request sent: warmup included for loadtest, the measured pass
	// only for wrk. 0 when unknown.
	CPUMicrosPerRequest float64 `json:"cpu_us_per_request"`
	// ClientCPUMicrosPerRequest is the load generator's CPU time over the
	// same span per request: wrk's process, or the harness process for
	// loadtest. 0 when unknown.
	ClientCPUMicrosPerRequest float64 `json:"client_cpu_us_per_request,omitempty"`
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
// rows rows per request, or nil. At the headline connection count with one
// row, that is the median of the headline rounds with mlgate's own load
// generator (a single run in suites from before the rounds).
func (s *Suite) closedRun(server string, conns, rows int) *RunResult {
	if conns == s.Plan.HeadlineConns && rows == 1 {
		if r := s.headlineRun(clientLoadtest, server); r != nil {
			return r
		}
	}
	for i := range s.Runs {
		r := &s.Runs[i]
		if r.Phase == phaseClosed && r.Server == server && r.Connections == conns && r.Rows == rows {
			return r
		}
	}
	return nil
}

// modelRun returns the batching or threads run (phase) of model at conns
// connections that matches: the batching mode for phaseBatching, workers
// and intra-op threads for phaseThreads. It returns nil when there is none.
func (s *Suite) modelRun(phase, model string, conns int, match func(*RunResult) bool) *RunResult {
	for i := range s.Runs {
		r := &s.Runs[i]
		if r.Phase == phase && r.Model == model && r.Connections == conns && match(r) {
			return r
		}
	}
	return nil
}

// openRun returns server's open-loop run at fraction of its saturation, or
// nil.
func (s *Suite) openRun(server string, fraction float64) *RunResult {
	for _, r := range s.openRuns(server) {
		if math.Abs(r.Fraction-fraction) < 1e-9 {
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
