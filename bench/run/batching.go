package main

import (
	"cmp"
	"context"
	"fmt"
	"strconv"

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
// turn) and mlp256 (its serving example's first row).
func (h *harness) models() (churn, mlp benchModel) {
	return benchModel{churnModel, churnRoute, h.churnPayload(1)}, benchModel{mlpModel, mlpRoute, h.mlp.payload()}
}

// runBatching starts one mlgate per batching mode and drives churn-gbm
// and mlp256 at each connection count, the modes in turn at each count so
// that drift on the machine affects them alike.
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
	churn, mlp := h.models()
	for _, m := range []benchModel{churn, mlp} {
		for _, c := range h.plan.batchingConns {
			for _, v := range variants {
				if err := h.variantRun(ctx, phaseBatching, v, workers[v.name+"/"+m.route], m, c); err != nil {
					return err
				}
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
	churn, mlp := h.models()
	for _, v := range variants {
		if err := h.variantRun(ctx, phaseThreads, v, workers[v.name+"/"+mlp.route], mlp, h.plan.threadMLPConns); err != nil {
			return err
		}
	}
	for _, v := range variants {
		if v.intraOp != 1 {
			continue
		}
		if err := h.variantRun(ctx, phaseThreads, v, workers[v.name+"/"+churn.route], churn, h.plan.threadChurnConns); err != nil {
			return err
		}
	}
	return nil
}

// startVariants starts the variants of phase, checks that each answers
// churn-gbm and mlp256 correctly and runs with the batching mode and
// workers asked for, and returns the workers each reports per route, keyed
// "<variant>/<route>" (0 when mlgate does not say).
func (h *harness) startVariants(ctx context.Context, phase string, variants []mlgateVariant) (map[string]int, error) {
	workers := map[string]int{}
	for _, v := range variants {
		p, err := h.start(ctx, serverSpec{v.name, h.mlgateArgv(v.flags()...)}, phase)
		if err != nil {
			return nil, err
		}
		if err := checkAnswer(ctx, p.url); err != nil {
			return nil, fmt.Errorf("%s answers churn-gbm wrongly, not measuring it: %w", v.name, err)
		}
		if err := checkMLPAnswer(ctx, p.url, h.mlp); err != nil {
			return nil, fmt.Errorf("%s answers mlp256 wrongly, not measuring it: %w", v.name, err)
		}
		models, err := adminModels(ctx, p.url)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		for _, route := range []string{churnRoute, mlpRoute} {
			m, ok := models[route]
			if !ok {
				return nil, fmt.Errorf("%s: GET /admin/models has no model on route %s", v.name, route)
			}
			if m.Batching != v.batching {
				return nil, fmt.Errorf("%s: route %s batches %q; want %q", v.name, route, m.Batching, v.batching)
			}
			if v.workers > 0 && m.Workers != 0 && m.Workers != v.workers {
				return nil, fmt.Errorf("%s: route %s has %d workers; want %d", v.name, route, m.Workers, v.workers)
			}
			workers[v.name+"/"+route] = m.Workers
		}
	}
	return workers, nil
}

// variantRun runs the closed loop at conns connections against model on
// variant v, which reports workers workers.
func (h *harness) variantRun(ctx context.Context, phase string, v mlgateVariant, workers int, m benchModel, conns int) error {
	run := RunResult{
		ID:             variantRunID(phase, v, m.route, conns),
		Server:         serverMlgate,
		Phase:          phase,
		Instance:       v.name,
		Route:          m.route,
		Model:          m.name,
		Batching:       v.batching,
		Workers:        cmp.Or(v.workers, workers),
		IntraOpThreads: v.intraOp,
		Connections:    conns,
		Rows:           1,
	}
	cfg := loadtest.Config{Connections: conns, Warmup: h.plan.phaseWarmup, Duration: h.plan.phaseDuration, Payload: m.payload}
	bench := fmt.Sprintf("batching/model=%s/mode=%s/conns=%d", m.name, v.batching, conns)
	if phase == phaseThreads {
		bench = fmt.Sprintf("threads/model=%s/workers=%d/intra=%d/conns=%d", m.name, v.workers, v.intraOp, conns)
	}
	return h.load(ctx, run, cfg, bench, loadExtras{statsRoute: m.route})
}

// variantRunID names a batching or threads run: "batching-off-mlp-c64",
// "threads-w1-i2-mlp-c64".
func variantRunID(phase string, v mlgateVariant, route string, conns int) string {
	if phase == phaseThreads {
		return fmt.Sprintf("threads-w%d-i%d-%s-c%d", v.workers, v.intraOp, route, conns)
	}
	return fmt.Sprintf("batching-%s-%s-c%d", v.batching, route, conns)
}
