package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mlgate/mlgate/bench/fixture"
	"github.com/mlgate/mlgate/loadtest"
)

// harness runs one suite.
type harness struct {
	opts    options
	plan    plan
	logf    func(string, ...any)
	suite   *Suite
	procs   map[string]*process
	rows    [][]json.Number
	payload map[int]loadtest.Payload // by rows per request
	bench   io.Writer                // bench.txt, appended
}

// Result file layout inside the results directory.
const (
	reportsDir = "reports"
	logsDir    = "logs"
	benchFile  = "bench.txt"
	goTestFile = "gotest.txt"
	suiteFile  = "suite.json"
	chartFile  = "latency-vs-load.svg"
)

// runSuite starts the servers, checks their answers, runs the load plan
// against them and stops them, recording everything in h.suite; on error
// the suite holds what ran until then.
func (h *harness) runSuite(ctx context.Context) (err error) {
	s := h.suite
	h.procs = map[string]*process{}
	defer func() {
		if serr := h.stopAll(); err == nil {
			err = serr
		}
	}()
	for _, spec := range serverSpecs(h.opts.servers, h.opts.binDir, h.opts.config) {
		logRel := filepath.ToSlash(filepath.Join(logsDir, spec.name+".log"))
		h.logf("starting %s", spec.name)
		p, err := startServer(ctx, spec, h.opts.repo, filepath.Join(h.opts.results, logRel), h.opts.readyTimeout)
		if err != nil {
			return err
		}
		h.procs[spec.name] = p
		s.Servers = append(s.Servers, ServerInfo{
			Name:         spec.name,
			Command:      displayCommand(spec.argv, h.opts.repo),
			ReadySeconds: p.ready.Seconds(),
			Log:          logRel,
		})
		if err := checkAnswer(ctx, p.url); err != nil {
			return fmt.Errorf("server %s answers wrongly, not measuring it: %w", spec.name, err)
		}
		if spec.name == serverNaive {
			s.Machine.ORTVersion = ortVersion(ctx, p.url)
		}
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
			continue // measured by the sweep, which includes headlineConns
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
	for _, f := range p.loadFractions {
		for _, name := range h.opts.servers {
			if name == serverCeiling {
				continue
			}
			if err := h.open(ctx, name, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// stopAll records each server's peak memory and stops them all at once
// (mlgate drains for a while after SIGTERM).
func (h *harness) stopAll() error {
	errs := make([]error, len(h.opts.servers))
	var wg sync.WaitGroup
	for i, name := range h.opts.servers {
		p := h.procs[name]
		if p == nil {
			continue
		}
		if rss, ok := peakRSS(p.cmd.Process.Pid); ok {
			h.setRSS(name, rss)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.stop()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (h *harness) setRSS(name string, kib int64) {
	for i := range h.suite.Servers {
		if h.suite.Servers[i].Name == name {
			h.suite.Servers[i].PeakRSSKiB = kib
		}
	}
}

// closed runs the closed loop against server.
func (h *harness) closed(ctx context.Context, server string, conns, rows int) error {
	run := RunResult{
		ID:          closedID(conns, rows, server),
		Server:      server,
		Phase:       phaseClosed,
		Connections: conns,
		Rows:        rows,
	}
	cfg := loadtest.Config{Connections: conns, Warmup: h.plan.warmup, Duration: h.plan.duration}
	bench := fmt.Sprintf("closed/conns=%d/rows=%d/server=%s", conns, rows, server)
	return h.load(ctx, run, cfg, bench)
}

// open runs the open loop against server at fraction of its saturation
// throughput, measured by the closed loop at the headline connection count.
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
	cfg := loadtest.Config{Rate: rate, MaxInFlight: h.plan.maxInFlight, Warmup: h.plan.openWarmup, Duration: h.plan.openDuration}
	bench := fmt.Sprintf("open/load=%.0fpct/rows=1/server=%s", fraction*100, server)
	return h.load(ctx, run, cfg, bench)
}

// closedID and openID name runs; the names are the HTML reports' stems.
func closedID(conns, rows int, server string) string {
	return fmt.Sprintf("closed-c%d-r%d-%s", conns, rows, server)
}

func openID(fraction float64, server string) string {
	return fmt.Sprintf("open-%02.0fpct-%s", fraction*100, server)
}

// load runs one load test, saves its HTML report and benchstat lines, and
// records it in the suite.
func (h *harness) load(ctx context.Context, run RunResult, cfg loadtest.Config, benchName string) error {
	p := h.procs[run.Server]
	payload, ok := h.payload[run.Rows]
	if !ok {
		payload = dataframePayload(h.rows, run.Rows)
		h.payload[run.Rows] = payload
	}
	cfg.URL = p.url
	cfg.Payload = payload
	desc := fmt.Sprintf("%s: %s", run.Server, plural(run.Connections, "connection"))
	if run.Phase == phaseOpen {
		desc = fmt.Sprintf("%s: %s req/s (%s of saturation)", run.Server, fmtRate(run.Rate), fmtPercent(run.Fraction))
	}
	h.logf("%-6s %s, %s per request", run.Phase, desc, plural(run.Rows, "row"))

	pid := p.cmd.Process.Pid
	cpu0, cpuOK := cpuTime(pid)
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("load test %s: %w", run.ID, err)
	}
	if cpu1, ok := cpuTime(pid); cpuOK && ok {
		if n := rep.Requests.Warmup + rep.Requests.Sent; n > 0 {
			run.CPUMicrosPerRequest = float64((cpu1-cpu0)/time.Microsecond) / float64(n)
		}
	}
	run.Summary = summarize(rep)
	run.Report = filepath.ToSlash(filepath.Join(reportsDir, run.ID+".html"))
	if err := writeFile(filepath.Join(h.opts.results, run.Report), rep.WriteHTML); err != nil {
		return err
	}
	if err := rep.WriteBenchstat(h.bench, benchName); err != nil {
		return fmt.Errorf("load test %s: benchstat lines: %w", run.ID, err)
	}
	h.suite.Runs = append(h.suite.Runs, run)
	sm := run.Summary
	h.logf("       %s req/s, p50 %s, p99 %s, %d errors", fmtRate(sm.Throughput), fmtMicros(sm.P50), fmtMicros(sm.P99), sm.Errors)
	if sm.Errors > 0 {
		h.logf("       warning: %d of %d requests failed; see %s", sm.Errors, sm.Scheduled, run.Report)
	}
	if err := sleepCtx(ctx, h.plan.pause); err != nil {
		return err
	}
	return nil
}

// checkAnswer sends the first example row and checks the answer: status
// 200, churn-gbm v1's probability and its provenance headers.
func checkAnswer(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/invocations", strings.NewReader(fixture.FirstRowRequest))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /invocations: status %d: %s", resp.StatusCode, body)
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
		if v := resp.Header.Get(hd.Name); v != hd.Value {
			return fmt.Errorf("POST /invocations: header %s: got %q; want %q", hd.Name, v, hd.Value)
		}
	}
	return nil
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
