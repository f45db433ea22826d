package infer

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlgate/mlgate/signature"
)

// Model is one loaded model version: an ONNX Runtime session, the compiled
// signature plan that feeds it, and its workers.
//
// A Model is reference counted. Load returns it holding one reference, owned
// by the caller. Every user takes its own reference with Acquire before use
// and gives it back with Release; the session is destroyed when the last
// reference goes, never while a request is running on it. All methods are
// safe for concurrent use.
type Model struct {
	cfg       Config
	dir       string
	ml        *signature.MLmodel
	plan      *signature.Plan
	session   *ort.DynamicAdvancedSession
	inputs    []graphValue
	outputs   []graphValue
	layouts   []outLayout
	bound     bool // every output is a tensor with a batch axis: preallocated and bound
	batchable bool
	mode      BatchMode
	bytes     int64

	loadDuration   time.Duration
	warmupDuration time.Duration
	notBatchable   string // why batching is off, for status
	calibration    Calibration

	q       batcher
	stats   stats
	workers []*worker
	jobs    sync.Pool
	refs    atomic.Int64
	closed  atomic.Bool
}

var liveSessions atomic.Int64

type stats struct{ runs, requests, rows atomic.Int64 }

// Stats counts the work a model has done since it was loaded, warm-up
// included.
type Stats struct {
	// Runs is the number of ONNX Runtime calls.
	Runs int64 `json:"runs"`
	// Requests is the number of requests those calls served; Requests/Runs
	// is the mean batch size in requests.
	Requests int64 `json:"requests"`
	// Rows is the number of rows those calls processed.
	Rows int64 `json:"rows"`
}

// Stats returns m's counters.
func (m *Model) Stats() Stats {
	return Stats{Runs: m.stats.runs.Load(), Requests: m.stats.requests.Load(), Rows: m.stats.rows.Load()}
}

// LiveSessions returns the number of ONNX Runtime sessions currently open in
// the process: loaded versions not yet destroyed.
func LiveSessions() int64 { return liveSessions.Load() }

// Acquire takes a reference to m. It returns false when m has already been
// destroyed (its last reference released); the caller must then look up the
// current model again.
func (m *Model) Acquire() bool {
	for {
		n := m.refs.Load()
		if n <= 0 {
			return false
		}
		if m.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release gives back a reference taken by Load or Acquire. The last one
// destroys the session.
func (m *Model) Release() {
	switch n := m.refs.Add(-1); {
	case n == 0:
		m.destroy()
	case n < 0:
		panic("infer: Model released more often than acquired")
	}
}

func (m *Model) destroy() {
	if !m.closed.CompareAndSwap(false, true) {
		return
	}
	for _, w := range m.workers {
		w.destroy()
	}
	if m.session != nil {
		m.session.Destroy()
		liveSessions.Add(-1)
	}
}

// Refs returns the references held on m now: its owners (the serving
// states, the cache) and the requests running on it.
func (m *Model) Refs() int64 { return m.refs.Load() }

// Plan returns the compiled signature plan that decodes requests for m.
func (m *Model) Plan() *signature.Plan { return m.plan }

// MLmodel returns the parsed MLmodel file.
func (m *Model) MLmodel() *signature.MLmodel { return m.ml }

// Bytes returns the size of the model's files on disk, the measure the
// loaded-model cache budgets by.
func (m *Model) Bytes() int64 { return m.bytes }

// Info describes a loaded model for status pages.
type Info struct {
	Dir            string        `json:"dir"`
	Inputs         []string      `json:"inputs"`
	Outputs        []string      `json:"outputs"`
	Batching       string        `json:"batching"` // "busy", "window", "off", or "off (reason)"
	Workers        int           `json:"workers"`
	LoadDuration   time.Duration `json:"load_ns"`
	WarmupDuration time.Duration `json:"warmup_ns"`
	Bytes          int64         `json:"bytes"`
	// Calibration says how Workers was chosen.
	Calibration Calibration `json:"calibration"`
	// Stats counts the runs so far; Requests/Runs is the mean batch.
	Stats Stats `json:"stats"`
}

// Describe returns m's Info, for status pages that know a model only by
// interface.
func (m *Model) Describe() any { return m.Info() }

// Info returns a description of m.
func (m *Model) Info() Info {
	info := Info{
		Dir: m.dir, Workers: len(m.workers), Bytes: m.bytes,
		LoadDuration: m.loadDuration, WarmupDuration: m.warmupDuration,
		Batching: m.mode.String(), Stats: m.Stats(), Calibration: m.calibration,
	}
	if !m.batchable {
		info.Batching = "off (" + m.notBatchable + ")"
	}
	for _, g := range m.inputs {
		info.Inputs = append(info.Inputs, g.String())
	}
	for _, g := range m.outputs {
		info.Outputs = append(info.Outputs, g.String())
	}
	return info
}

// GraphOutputs returns the outputs of m's graph in graph order: name,
// element type and shape (-1 for symbolic dimensions) of each tensor, and
// DTypeInvalid for an output that is not a tensor (a sequence of maps).
func (m *Model) GraphOutputs() []signature.GraphTensor {
	out := make([]signature.GraphTensor, len(m.outputs))
	for i, g := range m.outputs {
		out[i] = signature.GraphTensor{Name: g.name, DType: g.dtype, Shape: append([]int64(nil), g.shape...)}
	}
	return out
}

// Predict runs the decoded request b through the model, alone or batched
// with concurrent requests, and returns the request's outputs. b must have
// been decoded by m.Plan() and must stay untouched until the Prediction is
// released; the caller must hold a reference to m until then, and must call
// Release on the Prediction exactly once. Predict allocates nothing once
// the model's pools are warm.
//
// Errors: ErrOverloaded when the queue is full; ctx's error when it ends
// before a worker took the request; ErrRun (wrapped) when ONNX Runtime
// fails.
func (m *Model) Predict(ctx context.Context, b *signature.Batch) (signature.Prediction, error) {
	j := m.jobs.Get().(*job)
	j.b, j.err = b, nil
	if err := m.submit(ctx, j); err != nil {
		if j.state.Load() != jobCancelled {
			m.putJob(j)
		}
		return nil, err
	}
	if err := j.err; err != nil {
		m.putJob(j)
		return nil, err
	}
	return j, nil
}

// maxPooledOutputElems caps the output scratch a pooled job keeps.
const maxPooledOutputElems = 1 << 16

func (m *Model) putJob(j *job) {
	j.b = nil
	for i := range j.outs {
		o := &j.outs[i]
		if cap(o.F32)+cap(o.F64)+cap(o.I32)+cap(o.I64)+cap(o.B)+cap(o.S) > maxPooledOutputElems {
			return
		}
		o.Seq = nil
		clear(o.S)
	}
	m.jobs.Put(j)
}

// run executes batch on w: it fills the inputs, runs the session once, and
// copies each job's rows of every output into the job.
func (m *Model) run(w *worker, batch []*job) {
	err := m.runBatch(w, batch)
	if err != nil {
		for _, j := range batch {
			j.err = err
		}
	}
}

func (m *Model) runBatch(w *worker, batch []*job) error {
	rows := 0
	for _, j := range batch {
		rows += j.rows()
	}
	m.stats.runs.Add(1)
	m.stats.requests.Add(int64(len(batch)))
	m.stats.rows.Add(int64(rows))
	p, kept, err := w.plan(batch[0].b, rows, m.bound)
	if err != nil {
		return fmt.Errorf("prepare tensors for %d rows: %w: %w", rows, ErrRun, err)
	}
	if !kept {
		defer p.destroy()
	}
	if err := p.fill(batch); err != nil {
		return fmt.Errorf("%w: %w", ErrRun, err)
	}
	var views []signature.Output
	if p.binding != nil {
		if err := m.session.RunWithBinding(p.binding); err != nil {
			return fmt.Errorf("%w: onnx runtime: %w", ErrRun, err)
		}
		views = p.outViews
	} else {
		if cap(w.vals) < len(m.outputs) {
			w.vals = make([]ort.Value, len(m.outputs))
		}
		w.vals = w.vals[:len(m.outputs)]
		clear(w.vals)
		if err := m.session.Run(p.inputs, w.vals); err != nil {
			return fmt.Errorf("%w: onnx runtime: %w", ErrRun, err)
		}
		defer func() {
			for _, v := range w.vals {
				if v != nil {
					v.Destroy()
				}
			}
		}()
		w.views = w.views[:0]
		for i, v := range w.vals {
			o, err := valueToOutput(m.outputs[i].name, v)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrRun, err)
			}
			w.views = append(w.views, o)
		}
		views = w.views
	}
	off := 0
	for _, j := range batch {
		if cap(j.outs) < len(views) {
			j.outs = make([]signature.Output, len(views))
		}
		j.outs = j.outs[:len(views)]
		for i := range views {
			axis := -1
			if len(batch) > 1 || m.layouts != nil {
				axis = m.axis(i)
			}
			if axis >= 0 && len(views[i].Shape) > axis && int(views[i].Shape[axis]) != rows {
				return fmt.Errorf("%w: output %s has %d rows along axis %d for a run of %d rows",
					ErrRun, views[i].Name, views[i].Shape[axis], axis, rows)
			}
			sliceRows(&j.outs[i], &views[i], axis, off, j.rows())
		}
		off += j.rows()
	}
	return nil
}

// axis returns output i's batch axis, or -1 before the probe has run or when
// the output does not scale with rows.
func (m *Model) axis(i int) int {
	if i < len(m.layouts) {
		return m.layouts[i].axis
	}
	return -1
}
