package infer

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/mlgate/mlgate/signature"
)

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
	m := newModel(dir, cfg)
	file, err := m.readMLmodel()
	if err != nil {
		return nil, err
	}
	if err := m.openSession(file); err != nil {
		return nil, err
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
	if err := m.warm(ctx, autoWorkers); err != nil {
		return nil, err
	}
	span.SetAttributes(attribute.String("mlflow.run_id", m.ml.RunID), attribute.Int64("model.bytes", m.bytes))
	m.q.idle = append(m.q.idle, m.workers...)
	cfg.Logger.Debug("model loaded", "dir", dir, "batchable", m.batchable, "bound", m.bound,
		"workers", len(m.workers), "workers_choice", m.calibration.Choice,
		"load", m.loadDuration, "warmup", m.warmupDuration)
	return m, nil
}

func newModel(dir string, cfg Config) *Model {
	m := &Model{cfg: cfg, dir: dir, mode: cfg.Batching}
	m.q.windowFull = make(chan struct{}, 1)
	m.jobs.New = func() any { return &job{m: m, done: make(chan struct{}, 1)} }
	return m
}

// readMLmodel reads and checks m's MLmodel and measures its directory; it
// returns the onnx flavor's model file, relative to the directory.
func (m *Model) readMLmodel() (string, error) {
	raw, err := os.ReadFile(filepath.Join(m.dir, "MLmodel"))
	if err != nil {
		return "", fmt.Errorf("read MLmodel: %w", err)
	}
	m.ml, err = signature.ParseMLmodel(raw)
	if err != nil {
		return "", fmt.Errorf("parse MLmodel: %w", err)
	}
	if m.ml.ONNX == nil {
		names := make([]string, 0, len(m.ml.Flavors))
		for n := range m.ml.Flavors {
			names = append(names, n)
		}
		return "", fmt.Errorf("model has no onnx flavor (flavors: %s); mlgate serves ONNX models", strings.Join(names, ", "))
	}
	file := m.ml.ONNX.Data
	if file == "" {
		file = "model.onnx"
	}
	if !filepath.IsLocal(file) {
		return "", fmt.Errorf("onnx flavor data %q is not a file inside the model directory", file)
	}
	if m.bytes, err = DirSize(m.dir); err != nil {
		return "", err
	}
	return file, nil
}

// openSession reads the graph in file, compiles the signature against its
// inputs and opens the ONNX Runtime session with m's workers. Once it
// succeeds m holds its first reference and must be destroyed on a later
// failure.
func (m *Model) openSession(file string) error {
	path := filepath.Join(m.dir, file)
	opts, err := newSessionOptions(m.cfg, m.ml.ONNX.SessionOptions)
	if err != nil {
		return err
	}
	defer opts.Destroy()
	ins, outs, err := ort.GetInputOutputInfoWithOptions(path, opts)
	if err != nil {
		return fmt.Errorf("read graph %s: %w", file, err)
	}
	m.inputs, m.outputs = graphValues(ins), graphValues(outs)
	graph := make([]signature.GraphTensor, len(m.inputs))
	for i, in := range m.inputs {
		if in.kind != ort.ONNXTypeTensor {
			return fmt.Errorf("graph input %s: mlgate feeds tensors only", in)
		}
		graph[i] = signature.GraphTensor{Name: in.name, DType: in.dtype, Shape: in.shape}
	}
	if m.plan, err = signature.Compile(m.ml.Signature, graph); err != nil {
		return fmt.Errorf("signature does not fit the graph: %w", err)
	}
	m.session, err = ort.NewDynamicAdvancedSession(path, names(m.inputs), names(m.outputs), opts)
	if err != nil {
		return fmt.Errorf("create onnx runtime session for %s: %w", file, err)
	}
	liveSessions.Add(1)
	m.refs.Store(1)
	for range m.cfg.Workers {
		m.workers = append(m.workers, &worker{m: m})
	}
	return nil
}

// warm probes whether m batches, chooses its workers when the
// configuration leaves them automatic, and warms every worker up, inside
// one warm-up span.
func (m *Model) warm(ctx context.Context, autoWorkers bool) error {
	start := time.Now()
	_, span := m.cfg.Tracer.Start(ctx, "mlgate.warmup")
	err := m.probe()
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
	span.SetAttributes(attribute.Bool("mlgate.batchable", m.batchable))
	span.End()
	if err != nil {
		return err
	}
	m.warmupDuration = time.Since(start)
	return nil
}

func names(vs []graphValue) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.name
	}
	return out
}

// DirSize is the size of the regular files under dir: what a loaded
// version is measured by (Model.Bytes) and, before a load, what it will be.
func DirSize(dir string) (int64, error) {
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
