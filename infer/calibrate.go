package infer

import (
	"fmt"
	"time"
)

// Automatic worker count.
//
// A worker is one lane of concurrent ONNX Runtime calls. With as many lanes
// as cores (the default), a request almost always finds a lane idle, so
// batching while busy never gathers anything, and on a model whose call is
// expensive the lanes take every core from the HTTP server while running one
// row at a time. Measured on 2 cores (BENCHMARKS.md, "Workers and intra-op
// threads"): mlp256, whose one-row call costs about 38 µs and whose 64-row
// call costs about 7 µs a row, served 1.03–1.43× more requests with one
// worker than with two in four runs, because one lane stays busy and gathers
// 2–3 requests per call; churn-gbm, whose call costs about 1 µs, served
// 0.94–1.20× as many with two as with one.
//
// So when Workers is left at zero and batching is busy, Load times the
// model's example run alone and batched, and halves the lanes when the call
// is expensive and batching makes it much cheaper per row. The timings and
// the choice are in Info.
const (
	// calibrateMinRun is the one-row call time from which a call counts as
	// expensive: a few times what mlgate spends on a small request's HTTP,
	// decoding and encoding.
	calibrateMinRun = 15 * time.Microsecond
	// calibrateMaxRun is the one-row call time beyond which Load does not
	// time a batched run: the model is slow enough that every lane counts,
	// and timing a batch would slow the load down.
	calibrateMaxRun = 10 * time.Millisecond
	// calibrateBatch is the number of example requests in the batched run.
	calibrateBatch = 8
	// calibrateGain is how much cheaper per row the batched run must be.
	calibrateGain = 2.0
	// calibrateRuns is how many timed runs of each kind Load takes the
	// fastest of.
	calibrateRuns = 3
)

// Calibration is what Load measured to choose the number of workers.
type Calibration struct {
	// OneRow is the fastest call on the example alone, BatchedPerRow the
	// fastest call on calibrateBatch copies of it, divided by its rows.
	OneRow        time.Duration `json:"one_row_ns"`
	BatchedPerRow time.Duration `json:"batched_per_row_ns,omitempty"`
	// Choice says why the model has the workers it has.
	Choice string `json:"choice"`
}

// chooseWorkers sets the number of workers of a model whose Workers setting
// was left at zero, from timed runs of its example. It runs after probe and
// before warmUp, so dropped workers have done nothing yet. The timing is
// measurement; the choice itself is decideWorkers, a pure function of the
// figures.
func (m *Model) chooseWorkers() error {
	n := len(m.workers)
	c := &m.calibration
	switch {
	case n < 2:
		c.Choice = "one core"
		return nil
	case m.mode != BatchBusy || !m.batchable:
		c.Choice = fmt.Sprintf("one per core (batching %s)", m.Info().Batching)
		return nil
	}
	b, err := m.example()
	if err != nil {
		return err
	}
	defer m.plan.PutBatch(b)
	w := m.workers[0]
	timeRuns := func(k int) (time.Duration, error) {
		batch := make([]*job, k)
		for i := range batch {
			batch[i] = &job{b: b}
		}
		best := time.Duration(-1)
		for range calibrateRuns + 1 { // the first builds the tensors
			start := time.Now()
			if err := m.runBatch(w, batch); err != nil {
				return 0, err
			}
			d := time.Since(start)
			if m.cfg.callCost != nil {
				d = m.cfg.callCost(k, k*b.Rows)
			}
			if best < 0 || d < best {
				best = d
			}
		}
		return best, nil
	}
	oneRun, err := timeRuns(1)
	if err != nil {
		return fmt.Errorf("time the example: %w", err)
	}
	c.OneRow = oneRun / time.Duration(b.Rows)
	k := max(1, min(calibrateBatch, m.cfg.MaxBatchRows/b.Rows))
	if worthBatchedTiming(c.OneRow) {
		batched, err := timeRuns(k)
		if err != nil {
			return fmt.Errorf("time the example batched: %w", err)
		}
		c.BatchedPerRow = batched / time.Duration(k*b.Rows)
	}
	keep, choice := decideWorkers(n, c.OneRow, c.BatchedPerRow)
	for _, w := range m.workers[keep:] {
		w.destroy()
	}
	m.workers = m.workers[:keep]
	c.Choice = choice
	return nil
}

// worthBatchedTiming reports whether a model whose one-row call takes
// oneRow is worth timing batched: only expensive calls that are not so slow
// that timing a batch would hold the load up.
func worthBatchedTiming(oneRow time.Duration) bool {
	return oneRow >= calibrateMinRun && oneRow <= calibrateMaxRun
}

// decideWorkers chooses how many of n lanes a model keeps, from its one-row
// call time and its per-row time in a batched call (zero when not timed),
// and says why.
func decideWorkers(n int, oneRow, batchedPerRow time.Duration) (int, string) {
	switch {
	case n < 2:
		return n, "one core"
	case !worthBatchedTiming(oneRow) || batchedPerRow <= 0:
		return n, "one per core (call is cheap or slow)"
	case float64(oneRow) < calibrateGain*float64(batchedPerRow):
		return n, "one per core (batching saves little per row)"
	}
	keep := max(1, n/2)
	return keep, fmt.Sprintf("%d of %d cores: the call is expensive and batching makes it cheaper per row, so fewer lanes gather larger batches", keep, n)
}
