package main

import (
	"fmt"
	"math"
	"strings"
)

// modelBlurbs describe the models of the batching and threads phases.
var modelBlurbs = map[string]string{
	churnModel: "churn-gbm v1 (logistic regression, float32 [N,4]; route churn, dataframe_split)",
	mlpModel:   "mlp256 v1 (MLP float32 [N,256] → 512 → 512 → 1, 1.6 MB of weights; route mlp, tensor `inputs`)",
}

// phaseCommands lists the command lines of phase's processes.
func (r *renderer) phaseCommands(phase string) {
	for _, sv := range r.s.Servers {
		if sv.Phase == phase {
			r.p("- %s: `%s` ([log](%s))\n", sv.Name, sv.Command, r.link(sv.Log))
		}
	}
	r.p("\n")
}

// phaseRan reports whether the suite has runs of phase.
func (s *Suite) phaseRan(phase string) bool {
	for _, r := range s.Runs {
		if r.Phase == phase {
			return true
		}
	}
	return false
}

func (r *renderer) batching() {
	s := r.s
	if !s.phaseRan(phaseBatching) {
		return
	}
	r.p("### Dynamic batching: one mlgate per `--batching` mode\n\n")
	r.p("`off` runs every request on its own ONNX Runtime call; `busy` (mlgate's default) runs a request at\n")
	r.p("once when a worker is idle and gathers the requests that arrive while every worker is busy into\n")
	r.p("the next call; `window` waits up to `--max-batch-delay` to gather. One mlgate per mode, with its\n")
	r.p("default workers and threads, all three started together; at each connection count the modes\n")
	r.p("run one after the other. Closed loop, one row per request, %s warmup, then %s measured.\n", s.Plan.PhaseWarmup, s.Plan.PhaseDuration)
	r.p("\"Requests per call\" is the mean batch: requests over ONNX Runtime calls, from mlgate's model\n")
	r.p("counters in `GET /admin/models` before and after the run (warmup included).\n\n")
	r.phaseCommands(phaseBatching)
	var runs []*RunResult
	for _, model := range []string{churnModel, mlpModel} {
		r.p("%s:\n\n", modelBlurbs[model])
		r.p("| connections | batching | req/s | p50 | p99 | server CPU per request | requests per call | errors | |\n|---:|---|---:|---:|---:|---:|---:|---:|---|\n")
		for _, c := range s.Plan.BatchingConns {
			for _, mode := range s.Plan.BatchingModes {
				run := s.batchingRun(model, c, mode)
				if run == nil {
					continue
				}
				runs = append(runs, run)
				r.variantRow(fmt.Sprintf("%d | %s", c, mode), run)
			}
		}
		r.p("\n")
	}
	r.failureNotes(runs)
	r.p("Throughput over batching off:\n\n")
	r.p("| connections | mlp256 busy / off | mlp256 window / off | churn-gbm busy / off | churn-gbm window / off |\n|---:|---:|---:|---:|---:|\n")
	for _, c := range s.Plan.BatchingConns {
		r.p("| %d | %s | %s | %s | %s |\n", c,
			fmtRatio(s.modeRatio(mlpModel, c, "busy")), fmtRatio(s.modeRatio(mlpModel, c, "window")),
			fmtRatio(s.modeRatio(churnModel, c, "busy")), fmtRatio(s.modeRatio(churnModel, c, "window")))
	}
	busy, v := s.targetBusy()
	r.p("\nTarget: mlp256 with batching busy ≥ %.0f× off at %d connections. Measured %s: **%s**.\n\n",
		busyTargetRatio, busyTargetConns, fmtRatio(busy), v)
}

// variantRow writes one row of the batching or threads tables: the
// leading cells, then the run's numbers.
func (r *renderer) variantRow(lead string, run *RunResult) {
	sm := &run.Summary
	r.p("| %s | %s | %s | %s | %s | %s | %d | %s |\n", lead, fmtRate(sm.Throughput), fmtMicros(sm.P50), fmtMicros(sm.P99),
		fmtCPU(run.CPUMicrosPerRequest), fmtBatch(run.MeanBatch), sm.Errors, r.reportLink(run))
}

// fmtBatch writes a mean batch size, "n/a" when unknown.
func fmtBatch(v float64) string {
	if !(v > 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v)
}

// threadRuns returns the threads phase's runs of model at conns
// connections, in the plan's workers then intra-op order.
func (s *Suite) threadRuns(model string, conns int) []*RunResult {
	var out []*RunResult
	for _, w := range s.Plan.ThreadWorkers {
		for _, i := range s.Plan.ThreadIntraOp {
			if run := s.modelRun(phaseThreads, model, conns, func(r *RunResult) bool {
				return r.Workers == w && r.IntraOpThreads == i
			}); run != nil {
				out = append(out, run)
			}
		}
	}
	return out
}

// defaultWorkers is the workers mlgate chose by default for model on the
// benchmark machine, as the batching phase's busy mlgate reported it (the
// choice is automatic and depends on the model), else the machine's CPUs.
func (s *Suite) defaultWorkers(model string) int {
	for _, r := range s.Runs {
		if r.Phase == phaseBatching && r.Model == model && r.Batching == "busy" && r.Workers > 0 {
			return r.Workers
		}
	}
	return s.Machine.CPUs
}

func (r *renderer) threads() {
	s := r.s
	if !s.phaseRan(phaseThreads) {
		return
	}
	r.p("### Workers and intra-op threads\n\n")
	r.p("One mlgate per `--workers` × `--intra-op-threads` pair, batching busy, all started together.\n")
	r.p("Closed loop, one row per request, %s warmup, then %s measured: mlp256 at %d connections, and\n", s.Plan.PhaseWarmup, s.Plan.PhaseDuration, s.Plan.ThreadMLPConns)
	r.p("churn-gbm at %d with one intra-op thread.\n\n", s.Plan.ThreadChurnConns)
	r.phaseCommands(phaseThreads)
	r.p("| model | connections | workers | intra-op threads | req/s | p50 | p99 | server CPU per request | requests per call | errors | |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	var all []*RunResult
	groups := []struct {
		model string
		conns int
	}{{mlpModel, s.Plan.ThreadMLPConns}, {churnModel, s.Plan.ThreadChurnConns}}
	for _, g := range groups {
		for _, run := range s.threadRuns(g.model, g.conns) {
			all = append(all, run)
			r.variantRow(fmt.Sprintf("%s | %d | %d | %d", g.model, g.conns, run.Workers, run.IntraOpThreads), run)
		}
	}
	r.p("\n")
	r.failureNotes(all)
	r.p("mlgate's defaults are one intra-op thread and automatic workers: one per core, halved for a model\n")
	r.p("whose call is expensive and much cheaper per row in a batch, so that batching while busy gathers\n")
	r.p("requests (the choice and its timings are in `GET /admin/models`). What the numbers say:\n\n")
	for _, g := range groups {
		r.p("- %s\n", threadVerdict(s.threadRuns(g.model, g.conns), g.model, g.conns, s.defaultWorkers(g.model)))
	}
	r.p("\n")
}

// threadVerdict says which setting was fastest for one model and how the
// defaults (defaultWorkers, one intra-op thread) compare with it.
func threadVerdict(runs []*RunResult, model string, conns, defaultWorkers int) string {
	var best, def *RunResult
	for _, run := range runs {
		if run.Summary.Throughput > 0 && (best == nil || run.Summary.Throughput > best.Summary.Throughput) {
			best = run
		}
		if run.Workers == defaultWorkers && run.IntraOpThreads == 1 {
			def = run
		}
	}
	if best == nil {
		return fmt.Sprintf("%s at %d connections: no successful run.", model, conns)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s at %d connections: fastest workers=%d intra=%d (%s req/s, p99 %s)", model, conns,
		best.Workers, best.IntraOpThreads, fmtRate(best.Summary.Throughput), fmtMicros(best.Summary.P99))
	switch {
	case def == nil:
		fmt.Fprintf(&b, "; the defaults (workers=%d intra=1) were not measured.", defaultWorkers)
	case def == best:
		b.WriteString("; that is mlgate's default.")
	default:
		share := ratio(def.Summary.Throughput, best.Summary.Throughput)
		fmt.Fprintf(&b, "; the defaults (workers=%d intra=1) reach %s of it (%s req/s, p99 %s).", defaultWorkers,
			fmtSharePct(share), fmtRate(def.Summary.Throughput), fmtMicros(def.Summary.P99))
	}
	return b.String()
}

// fmtSharePct writes a fraction as a whole percentage, "n/a" when unknown.
func fmtSharePct(f float64) string {
	if math.IsNaN(f) {
		return "n/a"
	}
	return fmtPercent(f)
}
