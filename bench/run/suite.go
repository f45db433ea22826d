package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mlgate/mlgate/bench/fixture"
	"github.com/mlgate/mlgate/loadtest"
)

// harness runs one suite.
type harness struct {
	opts  options
	plan  plan
	logf  func(string, ...any)
	suite *Suite
	// procs are the running servers by process name (ServerInfo.Name).
	procs map[string]*process
	rows  [][]json.Number
	// payload holds churn-gbm's dataframe_split bodies by rows per request.
	payload map[int]loadtest.Payload
	// store is the MLflow store every mlgate serves from; nil when mlgate
	// does not run.
	store *benchStore
	// mlp and wide are what mlgate is sent and must answer on mlp256 and
	// widemlp.
	mlp, wide tensorFixture
	// v2 holds the Open Inference Protocol requests by rows per request.
	v2 map[int]v2Bodies
	// wrk holds the paths of wrk's scripts.
	wrk   wrkScripts
	bench io.Writer // bench.txt, appended
	// rounds is rounds.txt: this run's rounds and their ratios.
	rounds io.Writer
	// skipped lists, by process name, the runs not made because the
	// process had exited.
	skipped map[string][]string
}

// Result file layout inside the results directory.
const (
	reportsDir   = "reports"
	logsDir      = "logs"
	benchFile    = "bench.txt"
	goTestFile   = "gotest.txt"
	handlerFile  = "gotest-handler.txt"
	suiteFile    = "suite.json"
	chartFile    = "latency-vs-load.svg"
	configFile   = "mlgate-bench.yaml"
	storeDisplay = "$BENCH_TMP"
)

// runSuite prepares mlgate's registry, runs the selected phases and
// analyses the CPU profiles, recording everything in h.suite; on error the
// suite holds what ran until then. Every server is stopped when its phase
// ends.
func (h *harness) runSuite(ctx context.Context) (err error) {
	h.procs = map[string]*process{}
	withMlgate := slices.Contains(h.opts.servers, serverMlgate)
	if withMlgate {
		if h.mlp, err = loadTensorFixture(filepath.Join(h.opts.repo, mlpModelDir), mlpModel, mlpRoute, 256); err != nil {
			return err
		}
		if h.store, err = newBenchStore(ctx, h.opts.repo, time.Now()); err != nil {
			return err
		}
		defer func() {
			if rerr := h.store.remove(); err == nil {
				err = rerr
			}
		}()
		if h.wide, err = loadTensorFixture(h.store.wideDir, wideModel, wideRoute, 64); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(h.opts.results, configFile), []byte(h.store.configText), 0o644); err != nil {
			return err
		}
		if err := h.store.checkResolve(ctx, filepath.Join(h.opts.binDir, serverMlgate), h.opts.repo); err != nil {
			return err
		}
		h.logf("registered %s and %s version 1 in a copy of the example registry; mlgate resolves them", mlpModel, wideModel)
	}
	if slices.Contains(h.opts.clients, clientWrk) && slices.Contains(h.opts.phases, phaseHeadline) {
		if h.wrk, err = writeWrkScripts(h.opts.results, h.churnPayload(1).Bodies); err != nil {
			return err
		}
	}
	if slices.Contains(h.opts.phases, phaseHeadline) {
		if err := h.runHeadline(ctx); err != nil {
			return err
		}
	}
	if withMlgate && slices.Contains(h.opts.phases, phaseBatching) {
		if err := h.runBatching(ctx); err != nil {
			return err
		}
	}
	if withMlgate && slices.Contains(h.opts.phases, phaseThreads) {
		if err := h.runThreads(ctx); err != nil {
			return err
		}
	}
	if withMlgate && slices.Contains(h.opts.phases, phasePGO) {
		if err := h.runPGO(ctx); err != nil {
			return err
		}
	}
	writeRatioLines(h.bench, h.suite)
	writeRatioLines(h.rounds, h.suite)
	h.analyseProfiles(ctx)
	return nil
}

// runHeadline starts the ceiling, mlgate and naive (and the baseline
// mlgate, if any), checks their answers, and runs the rounds, the rest of
// the connection sweep, the rows per request and the open loop against
// them.
func (h *harness) runHeadline(ctx context.Context) (err error) {
	s := h.suite
	defer func() {
		if serr := h.stopAll(); err == nil {
			err = serr
		}
	}()
	for _, spec := range h.serverSpecs() {
		p, err := h.start(ctx, spec, phaseHeadline)
		if err != nil {
			return err
		}
		if err := checkAnswer(ctx, p.url); err != nil {
			return fmt.Errorf("server %s answers wrongly, not measuring it: %w", spec.name, err)
		}
		if spec.name == serverMlgate || spec.name == serverBaseline || spec.name == serverStatus {
			if err := h.checkMlgate(ctx, spec.name, p.url); err != nil {
				return err
			}
		}
		if spec.name == serverMlgate && len(h.plan.protocolRows) > 0 {
			if err := h.checkProtocols(ctx, p); err != nil {
				return fmt.Errorf("mlgate answers the Open Inference Protocol wrongly, not measuring it: %w", err)
			}
		}
		if spec.name == serverNaive {
			s.Machine.ORTVersion = ortVersion(ctx, p.url)
		}
	}

	if err := h.runRounds(ctx); err != nil {
		return err
	}
	p := h.plan
	for _, c := range p.sweepConns {
		for _, name := range h.opts.servers {
			if err := h.closed(ctx, name, c, 1); err != nil {
				return err
			}
		}
	}
	for _, rows := range p.batchRows {
		if rows == 1 {
			continue // measured by the rounds
		}
		for _, name := range h.opts.servers {
			if name == serverCeiling {
				continue
			}
			if err := h.closed(ctx, name, p.headlineConns, rows); err != nil {
				return err
			}
		}
	}
	if slices.Contains(h.opts.servers, serverMlgate) {
		if err := h.runProtocols(ctx); err != nil {
			return err
		}
	}
	// The ceiling runs the open loop too: what it reaches at half its own
	// saturation is what this machine allows any server, goal 6's
	// reference.
	for _, f := range p.loadFractions {
		for _, name := range h.opts.servers {
			if err := h.open(ctx, name, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// serverSpecs returns the headline phase's command lines, built by `make
// build` and scripts/bench.sh into the bin directory, and the baseline
// mlgate's. The ceiling and mlgate serve Go's profiles so that their last
// round can be profiled.
func (h *harness) serverSpecs() []serverSpec {
	var out []serverSpec
	for _, n := range h.roundServers() {
		bin := filepath.Join(h.opts.binDir, n)
		switch n {
		case serverMlgate, serverStatus:
			out = append(out, serverSpec{n, h.mlgateArgv("--pprof", "--grpc-listen", grpcAddrPlaceholder)})
		case serverBaseline:
			argv := h.mlgateArgv("--pprof")
			argv[0] = h.opts.baselineBin
			out = append(out, serverSpec{n, argv})
		case serverCeiling:
			out = append(out, serverSpec{n, []string{bin, "--listen", addrPlaceholder, "--pprof"}})
		default:
			out = append(out, serverSpec{n, []string{bin, "--listen", addrPlaceholder}})
		}
	}
	return out
}

// mlgateArgv is mlgate's command line serving the generated configuration,
// with extra flags. mlgate logs nothing per request at level info, and its
// log then shows when each model loaded and when and why it stopped. Its
// admin endpoints share the loopback listener (--admin-listen equal to
// --listen), where the harness reads GET /admin/models and the profiles.
func (h *harness) mlgateArgv(extra ...string) []string {
	argv := []string{filepath.Join(h.opts.binDir, serverMlgate), "serve", "--config", h.store.config,
		"--listen", addrPlaceholder, "--admin-listen", addrPlaceholder, "--log-level", "info"}
	return append(argv, extra...)
}

// start starts spec as a process of phase and records it in the suite.
func (h *harness) start(ctx context.Context, spec serverSpec, phase string) (*process, error) {
	logRel := filepath.ToSlash(filepath.Join(logsDir, spec.name+".log"))
	h.logf("starting %s", spec.name)
	p, err := startServer(ctx, spec, h.opts.repo, filepath.Join(h.opts.results, logRel), h.opts.readyTimeout)
	if err != nil {
		return nil, err
	}
	h.procs[spec.name] = p
	cmd := displayCommand(spec.argv, h.opts.repo)
	if h.store != nil {
		cmd = strings.ReplaceAll(cmd, h.store.dir, storeDisplay)
	}
	h.suite.Servers = append(h.suite.Servers, ServerInfo{
		Name:         spec.name,
		Phase:        phase,
		Command:      cmd,
		ReadySeconds: p.ready.Seconds(),
		Log:          logRel,
	})
	return p, nil
}

// problem records and logs something that went wrong without stopping the
// suite.
func (h *harness) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.logf("warning: %s", msg)
	h.suite.Problems = append(h.suite.Problems, msg)
}

// stopAll records each running server's peak memory and the runs skipped
// because it had exited, and stops them all at once (mlgate may drain for
// a while after SIGTERM). A server that had already exited does not make
// stopAll fail: its exit is recorded as a problem instead.
func (h *harness) stopAll() error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, p := range h.procs {
		if rss, ok := peakRSS(p.cmd.Process.Pid); ok {
			h.setRSS(name, rss)
		}
		if status, exited := p.exitStatus(); exited {
			switch runs := h.skipped[name]; {
			case len(runs) > 0:
				h.problem("%s had exited (%s) before %d of its runs, which were not made: %s.", name, status, len(runs), strings.Join(runs, ", "))
			case !p.exitNoted:
				h.problem("%s exited (%s) before the end of its phase.", name, status)
			}
			p.log.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.stop(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	clear(h.procs)
	clear(h.skipped)
	return errors.Join(errs...)
}

func (h *harness) setRSS(name string, kib int64) {
	for i := range h.suite.Servers {
		if h.suite.Servers[i].Name == name {
			h.suite.Servers[i].PeakRSSKiB = kib
		}
	}
}

// churnPayload returns churn-gbm's bodies of rows rows each.
func (h *harness) churnPayload(rows int) loadtest.Payload {
	payload, ok := h.payload[rows]
	if !ok {
		payload = dataframePayload(h.rows, rows)
		h.payload[rows] = payload
	}
	return payload
}

// closed runs the closed loop against server once.
func (h *harness) closed(ctx context.Context, server string, conns, rows int) error {
	run := RunResult{
		ID:          closedID(conns, rows, server),
		Server:      server,
		Phase:       phaseClosed,
		Connections: conns,
		Rows:        rows,
	}
	cfg := loadtest.Config{Connections: conns, Warmup: h.plan.warmup, Duration: h.plan.duration, Payload: h.churnPayload(rows)}
	bench := fmt.Sprintf("closed/conns=%d/rows=%d/server=%s", conns, rows, server)
	return h.load(ctx, run, cfg, bench, loadExtras{})
}

// open runs the open loop against server at fraction of its saturation
// throughput: the median of its headline rounds with mlgate's own load
// generator.
func (h *harness) open(ctx context.Context, server string, fraction float64) error {
	sat := h.suite.closedRun(server, h.plan.headlineConns, 1)
	if sat == nil || !(sat.Summary.Throughput > 0) {
		h.logf("skipping %s's open loop: no saturation throughput", server)
		return nil
	}
	rate := math.Round(sat.Summary.Throughput * fraction)
	run := RunResult{
		ID:       openID(fraction, server),
		Server:   server,
		Phase:    phaseOpen,
		Rows:     1,
		Fraction: fraction,
		Rate:     rate,
	}
	cfg := loadtest.Config{Rate: rate, MaxInFlight: h.plan.maxInFlight, Warmup: h.plan.openWarmup, Duration: h.plan.openDuration,
		Payload: h.churnPayload(1)}
	bench := fmt.Sprintf("open/load=%.0fpct/rows=1/server=%s", fraction*100, server)
	return h.load(ctx, run, cfg, bench, loadExtras{})
}

// closedID and openID name runs; the names are the HTML reports' stems.
func closedID(conns, rows int, server string) string {
	return fmt.Sprintf("closed-c%d-r%d-%s", conns, rows, server)
}

func openID(fraction float64, server string) string {
	return fmt.Sprintf("open-%02.0fpct-%s", fraction*100, server)
}

// loadExtras are what a load run measures besides the load generator's
// report and the server's CPU time.
type loadExtras struct {
	// profile, when set, is the file (relative to the results directory)
	// that a CPU profile of the server taken during the measured window is
	// saved to.
	profile string
	// statsRoute, when set, is the mlgate route whose model counters are
	// read before and after the run, for the mean batch size.
	statsRoute string
}

// outcome is what one load run's client reported.
type outcome struct {
	summary Summary
	// requests is the number of requests the server's CPU time over the
	// run is divided by.
	requests int64
	// clientCPU is the load generator's CPU time over the run; 0 when
	// unknown.
	clientCPU time.Duration
	// report is loadtest's report; nil for wrk.
	report *loadtest.Report
	// raw is wrk's output; nil for loadtest.
	raw []byte
}

// load runs mlgate's load generator against run's process (see measure).
// A single run's HTML report is saved and its lines go to bench.txt as
// benchName.
func (h *harness) load(ctx context.Context, run RunResult, cfg loadtest.Config, benchName string, extra loadExtras) error {
	return h.measure(ctx, run, benchName, extra, func(ctx context.Context, p *process, _ func()) (outcome, error) {
		cfg.URL = p.url
		cfg.Route = run.Route
		self0 := selfCPU()
		rep, err := loadtest.Run(ctx, cfg)
		if err != nil {
			return outcome{}, err
		}
		return outcome{summary: summarize(rep), requests: rep.Requests.Warmup + rep.Requests.Sent,
			clientCPU: selfCPU() - self0, report: rep}, nil
	})
}

// measure makes one load run with do against the process named by
// run.Instance, or run.Server when that is empty, measuring the server's
// CPU time from /proc around it (do calls mark to restart that count after
// a warmup it makes itself), and records it in the suite: a single run's
// HTML report or wrk's output next to the reports, its lines in bench.txt,
// and a round's in rounds.txt too. A process that has exited (another
// program on a shared machine may stop it) is not measured: the run is
// skipped and recorded as a problem, and so is an exit during the run.
func (h *harness) measure(ctx context.Context, run RunResult, benchName string, extra loadExtras,
	do func(ctx context.Context, p *process, mark func()) (outcome, error)) error {
	procName := cmp.Or(run.Instance, run.Server)
	p := h.procs[procName]
	if status, exited := p.exitStatus(); exited {
		if len(h.skipped[procName]) == 0 {
			h.logf("warning: %s has exited (%s); skipping its runs", procName, status)
		}
		if h.skipped == nil {
			h.skipped = map[string][]string{}
		}
		h.skipped[procName] = append(h.skipped[procName], run.ID)
		return nil
	}
	desc := fmt.Sprintf("%s: %s", procName, plural(run.Connections, "connection"))
	if run.Route != "" {
		desc += ", route " + run.Route
	}
	switch {
	case run.Phase == phaseOpen:
		desc = fmt.Sprintf("%s: %s req/s (%s of saturation)", run.Server, fmtRate(run.Rate), fmtPercent(run.Fraction))
	case run.Phase == phaseRound:
		desc = fmt.Sprintf("%s, %s", run.client(), desc)
	case run.Phase == phaseProtocol:
		desc = fmt.Sprintf("%s, round %d, %s", protocolLabel(run.Protocol), run.Round, desc)
	}
	h.logf("%-8s %s, %s per request", run.Phase, desc, plural(run.Rows, "row"))

	var statsBefore *modelStats
	if extra.statsRoute != "" {
		statsBefore = h.modelStats(ctx, p.url, extra.statsRoute)
	}
	var prof chan Profile
	if extra.profile != "" {
		prof = make(chan Profile, 1)
		go func() {
			prof <- h.takeProfile(ctx, run, p.url, extra.profile)
		}()
	}
	pid := p.cmd.Process.Pid
	cpu0, cpuOK := cpuTime(pid)
	mark := func() { cpu0, cpuOK = cpuTime(pid) }
	var page *statusPoller
	if run.Server == serverStatus {
		page = startStatusPoller(ctx, p.url)
	}
	o, err := do(ctx, p, mark)
	if page != nil {
		run.StatusPolls, run.StatusPollErrors = page.stop()
		if run.StatusPollErrors > 0 {
			h.problem("%s: %d of the status page's %d reads of /admin/status failed.", run.ID, run.StatusPollErrors, run.StatusPolls)
		}
	}
	if prof != nil {
		h.suite.Profiles = append(h.suite.Profiles, <-prof)
	}
	if err != nil {
		return fmt.Errorf("load test %s: %w", run.ID, err)
	}
	if status, exited := p.exitStatus(); exited {
		p.exitNoted = true
		h.problem("%s exited (%s) during run %s, whose numbers are therefore wrong; see its log, %s.",
			procName, status, run.ID, filepath.ToSlash(filepath.Join(logsDir, procName+".log")))
	}
	if cpu1, ok := cpuTime(pid); cpuOK && ok && o.requests > 0 {
		run.CPUMicrosPerRequest = float64((cpu1-cpu0)/time.Microsecond) / float64(o.requests)
	}
	if o.clientCPU > 0 && o.requests > 0 {
		run.ClientCPUMicrosPerRequest = float64(o.clientCPU/time.Microsecond) / float64(o.requests)
	}
	if extra.statsRoute != "" {
		run.MeanBatch = meanBatch(statsBefore, h.modelStats(ctx, p.url, extra.statsRoute))
	}
	run.Summary = o.summary
	switch {
	case o.raw != nil:
		run.Report = filepath.ToSlash(filepath.Join(reportsDir, run.ID+".wrk.txt"))
		if err := os.WriteFile(filepath.Join(h.opts.results, run.Report), o.raw, 0o644); err != nil {
			return err
		}
	case o.report != nil && run.Round == 0:
		run.Report = filepath.ToSlash(filepath.Join(reportsDir, run.ID+".html"))
		if err := writeFile(filepath.Join(h.opts.results, run.Report), o.report.WriteHTML); err != nil {
			return err
		}
	}
	if run.Round > 0 {
		writeRoundLine(h.bench, &run)
		writeRoundLine(h.rounds, &run)
	} else if o.report != nil {
		if err := o.report.WriteBenchstat(h.bench, benchName); err != nil {
			return fmt.Errorf("load test %s: benchstat lines: %w", run.ID, err)
		}
	}
	h.suite.Runs = append(h.suite.Runs, run)
	sm := run.Summary
	batch := ""
	if run.MeanBatch > 0 {
		batch = fmt.Sprintf(", %.2f requests per ONNX Runtime call", run.MeanBatch)
	}
	h.logf("         %s req/s, p50 %s, p99 %s, server CPU %s per request, %d errors%s", fmtRate(sm.Throughput),
		fmtMicros(sm.P50), fmtMicros(sm.P99), fmtCPU(run.CPUMicrosPerRequest), sm.Errors, batch)
	if sm.Errors > 0 {
		h.logf("         warning: %d of %d requests failed; see %s", sm.Errors, sm.Scheduled, cmp.Or(run.Report, roundsFile))
	}
	return sleepCtx(ctx, h.plan.pause)
}

// modelStats reads the counters of route's model from the mlgate at base;
// nil when mlgate does not report them.
func (h *harness) modelStats(ctx context.Context, base, route string) *modelStats {
	models, err := adminModels(ctx, base)
	if err != nil {
		h.logf("         warning: no batch size: %v", err)
		return nil
	}
	return models[route].Stats
}

// checkAnswer sends the first example row and checks the answer: status
// 200, churn-gbm v1's probability and its provenance headers.
func checkAnswer(ctx context.Context, base string) error {
	header, body, err := postJSON(ctx, base, "/invocations", []byte(fixture.FirstRowRequest))
	if err != nil {
		return err
	}
	var got struct {
		Predictions []struct {
			Probability float64 `json:"probability"`
		} `json:"predictions"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Errorf("POST /invocations: %w: %s", err, body)
	}
	if len(got.Predictions) != 1 || math.Abs(got.Predictions[0].Probability-fixture.FirstRowProbability) > 1e-7 {
		return fmt.Errorf("POST /invocations: got %s; want probability %v", body, fixture.FirstRowProbability)
	}
	for _, hd := range fixture.Headers() {
		if v := header.Get(hd.Name); v != hd.Value {
			return fmt.Errorf("POST /invocations: header %s: got %q; want %q", hd.Name, v, hd.Value)
		}
	}
	return nil
}

// postJSON posts a JSON body to base+path on a fresh connection and returns
// the answer's headers and body (up to 1 MiB); a status other than 200 is an
// error.
func postJSON(ctx context.Context, base, path string, reqBody []byte) (http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(reqBody))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("POST %s: status %d: %s", path, resp.StatusCode, body)
	}
	return resp.Header, body, nil
}

// ortVersion asks the naive server which ONNX Runtime it loaded; mlgate
// loads the same library.
func ortVersion(ctx context.Context, base string) string {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/version", nil)
	if err != nil {
		return ""
	}
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(b)), "onnxruntime"))
}

// displayCommand writes argv for BENCHMARKS.md: paths relative to the
// repository, the listen address as ADDR.
func displayCommand(argv []string, repo string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if rel, err := filepath.Rel(repo, a); err == nil && filepath.IsAbs(a) && !strings.HasPrefix(rel, "..") {
			a = filepath.ToSlash(rel)
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// writeFile creates path and fills it with write.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
