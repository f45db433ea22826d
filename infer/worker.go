package infer

import (
	"fmt"
	"slices"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlgate/mlgate/signature"
)

// maxPlansPerWorker bounds how many row counts a worker keeps tensors for.
// Steady traffic uses a handful (1 row, the batch sizes that occur); the
// least recently used plan is destroyed to make room.
const maxPlansPerWorker = 48

// maxKeptPlanBytes is the largest plan a worker keeps. Tensors for more
// (a request of thousands of rows) are made for the run and destroyed
// after it, so that large requests of varied sizes do not pin up to
// maxPlansPerWorker times their size.
const maxKeptPlanBytes = 1 << 20

// worker is one lane of concurrent ONNX Runtime calls on a model's session.
// It owns tensors for the row counts it has run, so that a run with a row
// count seen before allocates nothing. A worker is used by one goroutine at
// a time: whoever took it from the batcher.
type worker struct {
	m     *Model
	plans []*runPlan
	clock uint64
	// batch is scratch for the jobs of the next run.
	batch []*job
	// views is scratch for the outputs of a dynamic run.
	views []signature.Output
	vals  []ort.Value
}

// runPlan holds the tensors for one input shape. Inputs are always
// preallocated; outputs are preallocated and bound through an IoBinding
// when the model's outputs allow it (bound), and left to ONNX Runtime
// otherwise.
type runPlan struct {
	rows    int
	shapes  [][]int64 // input shapes, for matching
	inputs  []ort.Value
	inViews []signature.Output
	// outputs and outViews are set for bound plans.
	outputs  []ort.Value
	outViews []signature.Output
	binding  *ort.IoBinding
	lastUse  uint64
	// bytes is the size of the plan's tensors.
	bytes int
}

func (p *runPlan) destroy() {
	if p.binding != nil {
		p.binding.Destroy()
	}
	for _, v := range p.inputs {
		if v != nil {
			v.Destroy()
		}
	}
	for _, v := range p.outputs {
		if v != nil {
			v.Destroy()
		}
	}
}

func (w *worker) destroy() {
	for _, p := range w.plans {
		p.destroy()
	}
	w.plans = nil
}

// plan returns the worker's tensors for inputs shaped like first's feeds with
// rows total rows, creating them if needed. A plan larger than
// maxKeptPlanBytes is not kept: the caller must destroy it after the run
// (kept reports false).
func (w *worker) plan(first *signature.Batch, rows int, bound bool) (p *runPlan, kept bool, err error) {
	w.clock++
	for _, p := range w.plans {
		if p.rows == rows && (p.binding != nil) == bound && p.matches(first) {
			p.lastUse = w.clock
			return p, true, nil
		}
	}
	p, err = w.m.newPlan(first, rows, bound)
	if err != nil {
		return nil, false, err
	}
	if p.bytes > maxKeptPlanBytes {
		return p, false, nil
	}
	p.lastUse = w.clock
	if len(w.plans) >= maxPlansPerWorker {
		lru := 0
		for i, q := range w.plans {
			if q.lastUse < w.plans[lru].lastUse {
				lru = i
			}
		}
		w.plans[lru].destroy()
		w.plans = slices.Delete(w.plans, lru, lru+1)
	}
	w.plans = append(w.plans, p)
	return p, true, nil
}

// matches reports whether p's input shapes fit b's feeds (all dimensions but
// the batch dimension).
func (p *runPlan) matches(b *signature.Batch) bool {
	for i := range b.Feeds {
		s := b.Feeds[i].Shape
		if len(s) != len(p.shapes[i]) {
			return false
		}
		for d := 1; d < len(s); d++ {
			if s[d] != p.shapes[i][d] {
				return false
			}
		}
	}
	return true
}

func (m *Model) newPlan(first *signature.Batch, rows int, bound bool) (_ *runPlan, err error) {
	p := &runPlan{rows: rows}
	defer func() {
		if err != nil {
			p.destroy()
		}
	}()
	for i := range first.Feeds {
		shape := slices.Clone(first.Feeds[i].Shape)
		if len(shape) > 0 && m.plan.Batchable() {
			shape[0] = int64(rows)
		}
		v, view, err := newTensor(first.Feeds[i].DType, shape)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", first.Feeds[i].Name, err)
		}
		view.Name = first.Feeds[i].Name
		p.bytes += tensorBytes(view.DType, shape)
		p.shapes = append(p.shapes, shape)
		p.inputs = append(p.inputs, v)
		p.inViews = append(p.inViews, view)
	}
	if !bound {
		return p, nil
	}
	p.binding, err = m.session.CreateIoBinding()
	if err != nil {
		return nil, fmt.Errorf("create io binding: %w", err)
	}
	for i, in := range m.inputs {
		if err := p.binding.BindInput(in.name, p.inputs[i]); err != nil {
			return nil, fmt.Errorf("bind input %s: %w", in.name, err)
		}
	}
	for i, l := range m.layouts {
		shape := l.shape(rows)
		v, view, err := newTensor(l.dtype, shape)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", l.name, err)
		}
		view.Name = l.name
		p.bytes += tensorBytes(l.dtype, shape)
		p.outputs = append(p.outputs, v)
		p.outViews = append(p.outViews, view)
		if err := p.binding.BindOutput(m.outputs[i].name, v); err != nil {
			return nil, fmt.Errorf("bind output %s: %w", l.name, err)
		}
	}
	return p, nil
}

// tensorBytes is the size of a tensor of dtype and shape; a string
// element counts as a string header.
func tensorBytes(dtype signature.DType, shape []int64) int {
	size := 16
	switch dtype {
	case signature.Float32, signature.Int32:
		size = 4
	case signature.Float64, signature.Int64:
		size = 8
	case signature.Bool:
		size = 1
	}
	n := size
	for _, d := range shape {
		n *= int(d)
	}
	return n
}

// outLayout is what the load-time probe learned about one output.
type outLayout struct {
	name  string
	dtype signature.DType
	seq   bool
	// axis is the output's batch axis: the dimension that equals the
	// request's rows. -1 when the output does not scale with rows.
	axis int
	// dims are the output's dimensions with the batch axis left as -1.
	dims []int64
}

func (l outLayout) shape(rows int) []int64 {
	s := slices.Clone(l.dims)
	if l.axis >= 0 {
		s[l.axis] = int64(rows)
	}
	return s
}

// fill writes the batch's feeds into p's input tensors, request after
// request along the batch dimension.
func (p *runPlan) fill(batch []*job) error {
	for k := range p.inViews {
		view := &p.inViews[k]
		off := 0
		if view.DType == signature.String {
			view.S = view.S[:0]
		}
		for _, j := range batch {
			f := &j.b.Feeds[k]
			copyFeed(view, off, f)
			off += f.Len()
		}
		if view.DType == signature.String {
			if err := p.inputs[k].(*ort.StringTensor).SetContents(view.S); err != nil {
				return fmt.Errorf("input %s: %w", view.Name, err)
			}
		}
	}
	return nil
}
