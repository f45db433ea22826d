package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mlgate/mlgate/loadtest"
)

// The headline rounds: in each round, each client drives each server in
// turn (ceiling, mlgate, naive, then the baseline mlgate if any) at the
// headline connection count with one row per request. A figure is the
// median over rounds, and a ratio between two servers is the median of the
// per-round ratios, which pairs runs made seconds apart.

// roundsFile is this run's rounds in benchstat's format, rewritten every
// run (bench.txt keeps every run's).
const roundsFile = "rounds.txt"

// wrkScripts are the Lua scripts wrk runs with, in the results directory:
// check counts answers whose status is not 200 (the warmup pass), measure
// does not (the measured pass).
type wrkScripts struct{ check, measure string }

// writeWrkScripts writes wrk's scripts for bodies into dir.
func writeWrkScripts(dir string, bodies [][]byte) (wrkScripts, error) {
	s := wrkScripts{check: filepath.Join(dir, "wrk-check.lua"), measure: filepath.Join(dir, "wrk-measure.lua")}
	if err := os.WriteFile(s.check, []byte(wrkScript(bodies, true)), 0o644); err != nil {
		return s, err
	}
	return s, os.WriteFile(s.measure, []byte(wrkScript(bodies, false)), 0o644)
}

// roundServers are the servers of the headline rounds in run order.
func (h *harness) roundServers() []string {
	out := slices.Clone(h.opts.servers)
	if h.opts.baselineBin != "" && slices.Contains(out, serverMlgate) {
		out = append(out, serverBaseline)
	}
	if h.opts.statusPage && slices.Contains(out, serverMlgate) {
		out = append(out, serverStatus)
	}
	return out
}

// runRounds runs the headline rounds. The last round's loadtest runs of
// the ceiling and mlgate are CPU-profiled.
func (h *harness) runRounds(ctx context.Context) error {
	p := h.plan
	for round := 1; round <= p.rounds; round++ {
		h.logf("round %d of %d", round, p.rounds)
		for _, client := range h.opts.clients {
			for _, server := range h.roundServers() {
				run := RunResult{
					ID:          roundID(client, round, server),
					Server:      server,
					Phase:       phaseRound,
					Client:      client,
					Round:       round,
					Connections: p.headlineConns,
					Rows:        1,
				}
				var err error
				if client == clientWrk {
					err = h.wrkLoad(ctx, run, p.roundWarmup, p.roundDuration)
				} else {
					var extra loadExtras
					if round == p.rounds && (server == serverCeiling || server == serverMlgate) {
						extra.profile = profileFile(server)
					}
					cfg := loadtest.Config{Connections: p.headlineConns, Warmup: p.roundWarmup, Duration: p.roundDuration, Payload: h.churnPayload(1)}
					err = h.load(ctx, run, cfg, "", extra)
				}
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// roundID names a headline round's run: "round3-wrk-mlgate".
func roundID(client string, round int, server string) string {
	return fmt.Sprintf("round%d-%s-%s", round, client, server)
}

// wrkLoad runs wrk against run's server: a warmup pass that checks every
// answer's status, then the measured pass, whose output is saved next to
// the HTML reports. A status other than 200 in the warmup is recorded as a
// problem; the measured pass counts statuses above 399 as errors.
func (h *harness) wrkLoad(ctx context.Context, run RunResult, warmup, duration time.Duration) error {
	return h.measure(ctx, run, "", loadExtras{}, func(ctx context.Context, p *process, mark func()) (outcome, error) {
		r := wrkRun{bin: h.opts.wrk, url: p.url + "/invocations", script: h.wrk.check,
			threads: h.plan.wrkThreads, connections: run.Connections, seconds: wholeSeconds(warmup)}
		check, _, _, err := r.run(ctx)
		if err != nil {
			return outcome{}, err
		}
		if n := check.errors(); n > 0 {
			h.problem("%s: %d of wrk's %d warmup requests failed (%s).", run.ID, n, check.Requests+check.Timeout+check.Connect,
				strings.Join(check.failures(), ", "))
		}
		mark()
		r.script, r.seconds = h.wrk.measure, wholeSeconds(duration)
		res, out, clientCPU, err := r.run(ctx)
		if err != nil {
			return outcome{}, err
		}
		return outcome{summary: res.summary(), requests: res.Requests, clientCPU: clientCPU, raw: out}, nil
	})
}

// roundRuns returns the headline rounds' runs of server with client, by
// round.
func (s *Suite) roundRuns(client, server string) []*RunResult {
	var out []*RunResult
	for i := range s.Runs {
		r := &s.Runs[i]
		if r.Phase == phaseRound && r.client() == client && r.Server == server {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b *RunResult) int { return cmp.Compare(a.Round, b.Round) })
	return out
}

// headlineRun is the median of server's headline rounds with client, or
// nil when there are none.
func (s *Suite) headlineRun(client, server string) *RunResult {
	return medianRun(s.roundRuns(client, server))
}

// client is the run's load generator.
func (r *RunResult) client() string { return cmp.Or(r.Client, clientLoadtest) }

// medianRun returns a run whose figures are the medians of runs' (each
// latency percentile, throughput and CPU time on its own), with the
// request and error counts summed; nil for no runs, the run itself for
// one.
func medianRun(runs []*RunResult) *RunResult {
	switch len(runs) {
	case 0:
		return nil
	case 1:
		return runs[0]
	}
	med := func(f func(*RunResult) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return estimate(xs).Median
	}
	medInt := func(f func(*Summary) int64) int64 {
		return int64(math.Round(med(func(r *RunResult) float64 { return float64(f(&r.Summary)) })))
	}
	out := *runs[0]
	out.ID = strings.TrimPrefix(out.ID, fmt.Sprintf("round%d-", out.Round))
	out.Round = 0
	out.Report = ""
	sm := &out.Summary
	*sm = Summary{
		Throughput: med(func(r *RunResult) float64 { return r.Summary.Throughput }),
		Elapsed:    med(func(r *RunResult) float64 { return r.Summary.Elapsed }),
		P50:        medInt(func(s *Summary) int64 { return s.P50 }),
		P90:        medInt(func(s *Summary) int64 { return s.P90 }),
		P99:        medInt(func(s *Summary) int64 { return s.P99 }),
		P999:       medInt(func(s *Summary) int64 { return s.P999 }),
		Max:        medInt(func(s *Summary) int64 { return s.Max }),
		ServiceP50: medInt(func(s *Summary) int64 { return s.ServiceP50 }),
		ServiceP99: medInt(func(s *Summary) int64 { return s.ServiceP99 }),
	}
	for _, r := range runs {
		sm.Scheduled += r.Summary.Scheduled
		sm.Responses += r.Summary.Responses
		sm.OK += r.Summary.OK
		sm.Errors += r.Summary.Errors
		sm.Late += r.Summary.Late
		sm.Warmup += r.Summary.Warmup
		sm.Interrupted = sm.Interrupted || r.Summary.Interrupted
		sm.Failures = append(sm.Failures, r.Summary.Failures...)
	}
	out.CPUMicrosPerRequest = med(func(r *RunResult) float64 { return orNaN(r.CPUMicrosPerRequest) })
	out.ClientCPUMicrosPerRequest = med(func(r *RunResult) float64 { return orNaN(r.ClientCPUMicrosPerRequest) })
	out.MeanBatch = med(func(r *RunResult) float64 { return orNaN(r.MeanBatch) })
	for _, p := range []*float64{&out.CPUMicrosPerRequest, &out.ClientCPUMicrosPerRequest, &out.MeanBatch} {
		if math.IsNaN(*p) {
			*p = 0
		}
	}
	return &out
}

// orNaN is v, or NaN for the 0 that means unknown.
func orNaN(v float64) float64 {
	if v > 0 {
		return v
	}
	return math.NaN()
}

// pairedRatios returns f(a)/f(b) for each round both a and b ran in, in
// round order.
func pairedRatios(a, b []*RunResult, f func(*RunResult) float64) []float64 {
	byRound := map[int]*RunResult{}
	for _, r := range b {
		byRound[r.Round] = r
	}
	var out []float64
	for _, r := range a {
		if o, ok := byRound[r.Round]; ok {
			out = append(out, ratio(f(r), f(o)))
		}
	}
	return out
}

// cpu is a run's server CPU time per request, NaN when unknown.
func cpu(r *RunResult) float64 { return orNaN(r.CPUMicrosPerRequest) }

// roundRatio estimates server a over server b with client: f's per-round
// ratio's median and confidence interval.
func (s *Suite) roundRatio(client, a, b string, f func(*RunResult) float64) Estimate {
	return estimate(pairedRatios(s.roundRuns(client, a), s.roundRuns(client, b), f))
}

// Benchmark names of the rounds in bench.txt and rounds.txt.
func roundBenchName(r *RunResult) string {
	switch r.Phase {
	case phaseRound:
		return fmt.Sprintf("Headline/client=%s/server=%s", r.client(), r.Server)
	case phaseProtocol:
		return fmt.Sprintf("Protocol/rows=%d/protocol=%s", r.Rows, r.Protocol)
	}
	return fmt.Sprintf("Batching/model=%s/conns=%d/mode=%s", r.Model, r.Connections, r.Batching)
}

// roundsHeader starts rounds.txt and each run's section of bench.txt's
// rounds: the run's label and the direction of the units benchstat does
// not know.
func writeRoundsHeader(w io.Writer, label string) {
	fmt.Fprintf(w, "run: %s\n", label)
	for _, u := range []string{"req/s", "req/s-ratio"} {
		fmt.Fprintf(w, "Unit %s better=higher\n", u)
	}
	for _, u := range []string{"cpu-ratio", "p99-ratio"} {
		fmt.Fprintf(w, "Unit %s better=lower\n", u)
	}
}

// writeRoundLine writes one round's run in the Go benchmark format:
// "BenchmarkHeadline/client=wrk/server=mlgate <ok answers> <ns> ns/op
// <req/s> req/s <p50> p50-ns <p99> p99-ns <cpu> cpu-ns/req", ns/op being
// the inverse of the good answers' throughput.
func writeRoundLine(w io.Writer, r *RunResult) {
	sm := &r.Summary
	fmt.Fprintf(w, "Benchmark%s %d", roundBenchName(r), max(sm.OK, 1))
	if sm.Throughput > 0 {
		fmt.Fprintf(w, " %.1f ns/op %.2f req/s", 1e9/sm.Throughput, sm.Throughput)
	}
	fmt.Fprintf(w, " %d p50-ns %d p99-ns", sm.P50*1000, sm.P99*1000)
	if r.CPUMicrosPerRequest > 0 {
		fmt.Fprintf(w, " %.0f cpu-ns/req", r.CPUMicrosPerRequest*1000)
	}
	fmt.Fprintf(w, "\n")
}

// ratioLine is one per-round ratio line: a name and its unit values.
type ratioLine struct {
	name   string
	values []ratioValue
}

type ratioValue struct {
	v    float64
	unit string
}

// ratioLines are the per-round ratios the goals are judged on, in the
// benchmark format, so that benchstat summarises them as it does the
// rounds: "BenchmarkHeadlineRatio/client=wrk/ratio=mlgate:ceiling 1 0.55
// req/s-ratio 1.31 cpu-ratio".
func (s *Suite) ratioLines() []ratioLine {
	var out []ratioLine
	pairs := [][2]string{{serverMlgate, serverCeiling}, {serverMlgate, serverNaive}, {serverMlgate, serverBaseline}, {serverStatus, serverMlgate}}
	for _, client := range allClients {
		for _, pr := range pairs {
			a, b := s.roundRuns(client, pr[0]), s.roundRuns(client, pr[1])
			tp, c := pairedRatios(a, b, throughput), pairedRatios(a, b, cpu)
			for i := range tp {
				out = append(out, ratioLine{
					name:   fmt.Sprintf("HeadlineRatio/client=%s/ratio=%s:%s", client, pr[0], pr[1]),
					values: []ratioValue{{tp[i], "req/s-ratio"}, {c[i], "cpu-ratio"}},
				})
			}
		}
	}
	for _, model := range []string{churnModel, wideModel} {
		for _, c := range s.batchingRoundConns(model) {
			busy, off := s.batchingRounds(model, c, "busy"), s.batchingRounds(model, c, "off")
			tp, lat := pairedRatios(busy, off, throughput), pairedRatios(busy, off, p99)
			for i := range tp {
				out = append(out, ratioLine{
					name:   fmt.Sprintf("BatchingRatio/model=%s/conns=%d/ratio=busy:off", model, c),
					values: []ratioValue{{tp[i], "req/s-ratio"}, {lat[i], "p99-ratio"}},
				})
			}
		}
	}
	return out
}

// writeRatioLines writes s's ratio lines; an unknown value is left out.
func writeRatioLines(w io.Writer, s *Suite) {
	for _, l := range s.ratioLines() {
		var vals []string
		for _, v := range l.values {
			if !math.IsNaN(v.v) {
				vals = append(vals, fmt.Sprintf("%.4f %s", v.v, v.unit))
			}
		}
		if len(vals) > 0 {
			fmt.Fprintf(w, "Benchmark%s 1 %s\n", l.name, strings.Join(vals, " "))
		}
	}
}

// roundsBenchstat summarises rounds.txt with benchstat: the servers side by
// side for each client (with benchstat's delta against the ceiling), the
// batching modes side by side, and the per-round ratios.
func roundsBenchstat(ctx context.Context, bs benchstatTool, path string) (string, error) {
	var parts []string
	tables := []struct {
		what string
		args []string
	}{
		{"Headline rounds, servers side by side", []string{"-col", "/server", "-filter", ".name:Headline .unit:(req/s OR cpu-ns/req OR p99-ns)"}},
		{"Batching rounds, modes side by side", []string{"-col", "/mode", "-filter", ".name:Batching .unit:(req/s OR p99-ns)"}},
		{"Per-round ratios", []string{"-filter", ".name:/Ratio$/"}},
	}
	for _, t := range tables {
		out, err := bs.run(ctx, path, t.args...)
		if err != nil {
			return strings.Join(parts, "\n\n"), err
		}
		if strings.TrimSpace(out) != "" {
			parts = append(parts, "# "+t.what+": benchstat "+strings.Join(quoteArgs(t.args), " ")+" "+roundsFile+"\n"+out)
		}
	}
	return strings.Join(parts, "\n\n"), nil
}

// quoteArgs quotes the arguments that hold spaces or shell characters.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " ()$/*") && !strings.HasPrefix(a, "/") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}
