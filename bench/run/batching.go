package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/mlgate/mlgate/loadtest"
)

// mlgateVariant is one differently configured mlgate process of the
// batching or threads phase.
type mlgateVariant struct {
	// name is the process's name: "mlgate-batching-off", "mlgate-w1-i2".
	name string
	// batching is the --batching mode.
	batching string
	// workers and intraOp are --workers and --intra-op-threads; 0 leaves
	// mlgate's default.
	workers, intraOp int
}

// flags returns the variant's mlgate flags.
func (v mlgateVariant) flags() []string {
	out := []string{"--batching", v.batching}
	if v.workers > 0 {
		out = append(out, "--workers", strconv.Itoa(v.workers))
	}
	if v.intraOp > 0 {
		out = append(out, "--intra-op-threads", strconv.Itoa(v.intraOp))
	}
	return out
}

// batchingVariants are the batching phase's processes, one per mode, with
// mlgate's default workers and threads.
func batchingVariants(p plan) []mlgateVariant {
	var out []mlgateVariant
	for _, m := range p.batchingModes {
		out = append(out, mlgateVariant{name: "mlgate-batching-" + m, batching: m})
	}
	return out
}

// threadVariants are the threads phase's processes, one per workers and
// intra-op threads pair, all batching busy.
func threadVariants(p plan) []mlgateVariant {
	var out []mlgateVariant
	for _, w := range p.threadWorkers {
		for _, i := range p.threadIntraOp {
			out = append(out, mlgateVariant{name: fmt.Sprintf("mlgate-w%d-i%d", w, i), batching: "busy", workers: w, intraOp: i})
		}
	}
	return out
}

// benchModel is a model the batching and threads phases send requests to.
type benchModel struct {
	name, route string
	payload     loadtest.Payload
}

// models returns churn-gbm (one row per request, the recorded rows in
// turn), mlp256 and widemlp (their serving examples' first rows).
func (h *harness) models() (churn, mlp, wide benchModel) {
	return benchModel{churnModel, churnRoute, h.churnPayload(1)},
		benchModel{mlpModel, mlpRoute, h.mlp.payload()},
		benchModel{wideModel, wideRoute, h.wide.payload()}
}

// roundModes are the modes of one batching round in run order, off first
// in odd rounds and busy first in even ones, so that neither always runs
// on a machine the other has just warmed or tired.
func roundModes(round int) []string {
	if round%2 == 1 {
		return []string{"off", "busy"}
	}
	return []string{"busy", "off"}
}

// runBatching starts one mlgate per batching mode and measures them: on
// churn-gbm, off and busy in rounds at each connection count; on mlp256,
// every mode once at each of its connection counts; on widemlp, off and
// busy in rounds, then window once. Each instance's own timing of each
// model's call is recorded from the busy one.
func (h *harness) runBatching(ctx context.Context) (err error) {
	defer func() {
		if serr := h.stopAll(); err == nil {
			err = serr
		}
	}()
	variants := batchingVariants(h.plan)
	workers, err := h.startVariants(ctx, phaseBatching, variants)
	if err != nil {
		return err
	}
	byMode := map[string]mlgateVariant{}
	for _, v := range variants {
		byMode[v.batching] = v
	}
	run := func(m benchModel, mode string, conns, round int, warmup, duration time.Duration) error {
		v := byMode[mode]
		return h.variantRun(ctx, phaseBatching, v, workers[v.name+"/"+m.route], m, conns, round, warmup, duration)
	}
	p := h.plan
	churn, mlp, wide := h.models()
	for round := 1; round <= p.rounds; round++ {
		h.logf("batching round %d of %d: %s", round, p.rounds, churnModel)
		for _, c := range p.batchingConns {
			for _, mode := range roundModes(round) {
				if err := run(churn, mode, c, round, p.batchWarmup, p.batchDuration); err != nil {
					return err
				}
			}
		}
	}
	for _, c := range p.mlpConns {
		for _, mode := range p.batchingModes {
			if err := run(mlp, mode, c, 0, p.phaseWarmup, p.phaseDuration); err != nil {
				return err
			}
		}
	}
	for round := 1; round <= p.rounds; round++ {
		for _, mode := range roundModes(round) {
			if err := run(wide, mode, p.wideConns, round, p.phaseWarmup, p.phaseDuration); err != nil {
				return err
			}
		}
	}
	for _, mode := range p.batchingModes {
		if mode != "off" && mode != "busy" {
			if err := run(wide, mode, p.wideConns, 0, p.phaseWarmup, p.phaseDuration); err != nil {
				return err
			}
		}
	}
	return nil
}

// runThreads starts one mlgate per workers and intra-op threads pair and
// drives mlp256 at threadMLPConns connections on each, then churn-gbm at
// threadChurnConns on those with one intra-op thread.
func (h *harness) runThreads(ctx context.Context) (err error) {
	defer func() {
		if serr := h.stopAll(); err == nil {
			err = serr
		}
	}()
	variants := threadVariants(h.plan)
	workers, err := h.startVariants(ctx, phaseThreads, variants)
	if err != nil {
		return err
	}
	churn, mlp, _ := h.models()
	p := h.plan
	for _, v := range variants {
		if err := h.variantRun(ctx, phaseThreads, v, workers[v.name+"/"+mlp.route], mlp, p.threadMLPConns, 0, p.phaseWarmup, p.phaseDuration); err != nil {
			return err
		}
	}
	for _, v := range variants {
		if v.intraOp != 1 {
			continue
		}
		if err := h.variantRun(ctx, phaseThreads, v, workers[v.name+"/"+churn.route], churn, p.threadChurnConns, 0, p.phaseWarmup, p.phaseDuration); err != nil {
			return err
		}
	}
	return nil
}

// benchRoutes are the routes of the generated configuration, by model.
var benchRoutes = []struct{ model, route string }{
	{churnModel, churnRoute}, {mlpModel, mlpRoute}, {wideModel, wideRoute},
}

// startVariants starts the variants of phase, checks that each answers
// churn-gbm, mlp256 and widemlp correctly and runs with the batching mode
// and workers asked for, and returns the workers each reports per route,
// keyed "<variant>/<route>" (0 when mlgate does not say). The batching
// phase's busy instance's timings of each model are recorded.
func (h *harness) startVariants(ctx context.Context, phase string, variants []mlgateVariant) (map[string]int, error) {
	workers := map[string]int{}
	for _, v := range variants {
		p, err := h.start(ctx, serverSpec{v.name, h.mlgateArgv(v.flags()...)}, phase)
		if err != nil {
			return nil, err
		}
		if err := h.checkMlgate(ctx, v.name, p.url); err != nil {
			return nil, err
		}
		models, err := adminModels(ctx, p.url)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		for _, br := range benchRoutes {
			m, ok := models[br.route]
			if !ok {
				return nil, fmt.Errorf("%s: GET /admin/models has no model on route %s", v.name, br.route)
			}
			if m.Batching != v.batching {
				return nil, fmt.Errorf("%s: route %s batches %q; want %q", v.name, br.route, m.Batching, v.batching)
			}
			if v.workers > 0 && m.Workers != 0 && m.Workers != v.workers {
				return nil, fmt.Errorf("%s: route %s has %d workers; want %d", v.name, br.route, m.Workers, v.workers)
			}
			workers[v.name+"/"+br.route] = m.Workers
			if phase == phaseBatching && v.batching == "busy" && m.Calibration != nil {
				h.suite.Calibrations = append(h.suite.Calibrations, ModelCalibration{
					Model: br.model, Instance: v.name, OneRowNs: m.Calibration.OneRowNs,
					BatchedPerRowNs: m.Calibration.BatchedPerRowNs, Workers: m.Workers, Choice: m.Calibration.Choice,
				})
			}
		}
	}
	return workers, nil
}

// checkMlgate checks the answers of the mlgate named name at base on
// churn-gbm, mlp256 and widemlp.
func (h *harness) checkMlgate(ctx context.Context, name, base string) error {
	if err := checkAnswer(ctx, base); err != nil {
		return fmt.Errorf("%s answers churn-gbm wrongly, not measuring it: %w", name, err)
	}
	for _, f := range []tensorFixture{h.mlp, h.wide} {
		if err := checkTensorAnswer(ctx, base, f); err != nil {
			return fmt.Errorf("%s answers %s wrongly, not measuring it: %w", name, f.model, err)
		}
	}
	return nil
}

// variantRun runs the closed loop at conns connections against model on
// variant v, which reports workers workers; round is the run's round, 0
// for a single run.
func (h *harness) variantRun(ctx context.Context, phase string, v mlgateVariant, workers int, m benchModel, conns, round int, warmup, duration time.Duration) error {
	run := RunResult{
		ID:             variantRunID(phase, v, m.route, conns, round),
		Server:         serverMlgate,
		Phase:          phase,
		Round:          round,
		Instance:       v.name,
		Route:          m.route,
		Model:          m.name,
		Batching:       v.batching,
		Workers:        cmp.Or(v.workers, workers),
		IntraOpThreads: v.intraOp,
		Connections:    conns,
		Rows:           1,
	}
	cfg := loadtest.Config{Connections: conns, Warmup: warmup, Duration: duration, Payload: m.payload}
	bench := fmt.Sprintf("batching/model=%s/mode=%s/conns=%d", m.name, v.batching, conns)
	if phase == phaseThreads {
		bench = fmt.Sprintf("threads/model=%s/workers=%d/intra=%d/conns=%d", m.name, v.workers, v.intraOp, conns)
	}
	return h.load(ctx, run, cfg, bench, loadExtras{statsRoute: m.route})
}

// variantRunID names a batching or threads run: "batching-off-mlp-c64",
// "batching-busy-churn-c8-round2", "threads-w1-i2-mlp-c64".
func variantRunID(phase string, v mlgateVariant, route string, conns, round int) string {
	if phase == phaseThreads {
		return fmt.Sprintf("threads-w%d-i%d-%s-c%d", v.workers, v.intraOp, route, conns)
	}
	id := fmt.Sprintf("batching-%s-%s-c%d", v.batching, route, conns)
	if round > 0 {
		id += fmt.Sprintf("-round%d", round)
	}
	return id
}

// batchingRounds returns the batching phase's rounds of model at conns in
// mode, by round.
func (s *Suite) batchingRounds(model string, conns int, mode string) []*RunResult {
	var out []*RunResult
	for i := range s.Runs {
		r := &s.Runs[i]
		if r.Phase == phaseBatching && r.Round > 0 && r.Model == model && r.Connections == conns && r.Batching == mode {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b *RunResult) int { return cmp.Compare(a.Round, b.Round) })
	return out
}

// batchingRoundConns are the connection counts at which model ran in
// batching rounds, in increasing order.
func (s *Suite) batchingRoundConns(model string) []int {
	var out []int
	for _, r := range s.Runs {
		if r.Phase == phaseBatching && r.Round > 0 && r.Model == model && !slices.Contains(out, r.Connections) {
			out = append(out, r.Connections)
		}
	}
	slices.Sort(out)
	return out
}

// batchingRun returns the batching phase's run of model at conns
// connections in mode: the median of its rounds, or its single run; nil
// when there is none.
func (s *Suite) batchingRun(model string, conns int, mode string) *RunResult {
	if rounds := s.batchingRounds(model, conns, mode); len(rounds) > 0 {
		return medianRun(rounds)
	}
	return s.modelRun(phaseBatching, model, conns, func(r *RunResult) bool { return r.Batching == mode })
}
