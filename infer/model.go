package infer

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

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

// Load loads the MLflow model in dir (its MLmodel, the onnx flavor's model
// file and any external-data files beside it), compiles its signature
// against the graph, warms every worker up with the model's
// serving_input_example.json (or a synthetic row when there is none) and
// checks that batched and unbatched runs agree. The returned Model holds one
// reference, owned by the caller.
func Load(ctx context.Context, dir string, cfg Config) (_ *Model, err error) {
	if !initialized() {
		return nil, ErrNotInitialized
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	autoWorkers := cfg.Workers == 0
	cfg = cfg.withDefaults()
	ctx, span := cfg.Tracer.Start(ctx, "mlgate.load", trace.WithAttributes(attribute.String("model.dir", dir)))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	m := &Model{cfg: cfg, dir: dir, mode: cfg.Batching}
	m.q.windowFull = make(chan struct{}, 1)
	m.jobs.New = func() any { return &job{done: make(chan struct{}, 1)} }

	raw, err := os.ReadFile(filepath.Join(dir, "MLmodel"))
	if err != nil {
		return nil, fmt.Errorf("read MLmodel: %w", err)
	}
	m.ml, err = signature.ParseMLmodel(raw)
	if err != nil {
		return nil, fmt.Errorf("parse MLmodel: %w", err)
	}
	if m.ml.ONNX == nil {
		names := make([]string, 0, len(m.ml.Flavors))
		for n := range m.ml.Flavors {
			names = append(names, n)
		}
		return nil, fmt.Errorf("model has no onnx flavor (flavors: %s); mlgate serves ONNX models", strings.Join(names, ", "))
	}
	file := m.ml.ONNX.Data
	if file == "" {
		file = "model.onnx"
	}
	if !filepath.IsLocal(file) {
		return nil, fmt.Errorf("onnx flavor data %q is not a file inside the model directory", file)
	}
	path := filepath.Join(dir, file)
	if m.bytes, err = dirSize(dir); err != nil {
		return nil, err
	}

	opts, err := newSessionOptions(cfg, m.ml.ONNX.SessionOptions)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	ins, outs, err := ort.GetInputOutputInfoWithOptions(path, opts)
	if err != nil {
		return nil, fmt.Errorf("read graph %s: %w", file, err)
	}
	m.inputs, m.outputs = graphValues(ins), graphValues(outs)
	graph := make([]signature.GraphTensor, len(m.inputs))
	for i, in := range m.inputs {
		if in.kind != ort.ONNXTypeTensor {
			return nil, fmt.Errorf("graph input %s: mlgate feeds tensors only", in)
		}
		graph[i] = signature.GraphTensor{Name: in.name, DType: in.dtype, Shape: in.shape}
	}
	if m.plan, err = signature.Compile(m.ml.Signature, graph); err != nil {
		return nil, fmt.Errorf("signature does not fit the graph: %w", err)
	}
	inNames, outNames := names(m.inputs), names(m.outputs)
	m.session, err = ort.NewDynamicAdvancedSession(path, inNames, outNames, opts)
	if err != nil {
		return nil, fmt.Errorf("create onnx runtime session for %s: %w", file, err)
	}
	liveSessions.Add(1)
	m.refs.Store(1)
	for range cfg.Workers {
		m.workers = append(m.workers, &worker{m: m})
	}
	defer func() {
		if err != nil {
			m.destroy()
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.loadDuration = time.Since(start)

	start = time.Now()
	_, warm := cfg.Tracer.Start(ctx, "mlgate.warmup")
	err = m.probe()
	if err == nil && autoWorkers {
		err = m.chooseWorkers()
	} else if err == nil {
		m.calibration.Choice = "set by configuration"
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = m.warmUp()
	}
	warm.SetAttributes(attribute.Bool("mlgate.batchable", m.batchable))
	warm.End()
	if err != nil {
		return nil, err
	}
	m.warmupDuration = time.Since(start)
	span.SetAttributes(attribute.String("mlflow.run_id", m.ml.RunID), attribute.Int64("model.bytes", m.bytes))
	m.q.idle = append(m.q.idle, m.workers...)
	cfg.Logger.Debug("model loaded", "dir", dir, "batchable", m.batchable, "bound", m.bound,
		"workers", len(m.workers), "workers_choice", m.calibration.Choice,
		"load", m.loadDuration, "warmup", m.warmupDuration)
	return m, nil
}

func names(vs []graphValue) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.name
	}
	return out
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("measure model directory: %w", err)
	}
	return n, nil
}

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

// Predict runs the decoded request b through the model, alone or batched
// with concurrent requests, and appends the scoring server's response body
// ({"predictions": ...}) to dst. b must have been decoded by m.Plan(). The
// caller must hold a reference to m.
//
// Errors: ErrOverloaded when the queue is full; ctx's error when it ends
// before a worker took the request; ErrRun (wrapped) when ONNX Runtime
// fails.
func (m *Model) Predict(ctx context.Context, b *signature.Batch, dst []byte) ([]byte, error) {
	j := m.jobs.Get().(*job)
	j.b, j.err = b, nil
	if err := m.submit(ctx, j); err != nil {
		if j.state.Load() != jobCancelled {
			m.putJob(j)
		}
		return dst, err
	}
	defer m.putJob(j)
	if j.err != nil {
		return dst, j.err
	}
	out, err := signature.AppendPredictions(dst, b.Records, j.outs)
	if err != nil {
		return dst, fmt.Errorf("encode predictions: %w", err)
	}
	return out, nil
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
