package infer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlgate/mlgate/signature"
)

// probeTolerance bounds how far a row's outputs may move when the row is run
// inside a larger batch (ONNX Runtime may pick other kernels for other
// shapes). Beyond it the model's rows are not independent and batching stays
// off.
const probeTolerance = 1e-5

// example returns the decoded serving input example of m, read from the
// model directory, or a synthetic one-row request when the model was logged
// without one.
func (m *Model) example() (*signature.Batch, error) {
	name := "serving_input_example.json"
	if ie := m.ml.InputExample; ie != nil && ie.ServingInputPath != "" {
		name = ie.ServingInputPath
	}
	var body []byte
	if filepath.IsLocal(name) {
		b, err := os.ReadFile(filepath.Join(m.dir, name))
		switch {
		case err == nil:
			body = b
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
	}
	if body == nil {
		name = "a synthetic request"
		body = syntheticExample(m.ml.Signature, m.inputs)
	}
	b := m.plan.GetBatch()
	// The model's own example is taken as MLflow takes it: missing values
	// in it are NaN.
	lim := signature.Limits{MissingValues: signature.MissingNaN}
	if err := m.plan.DecodeLimited(context.Background(), signature.FormatJSON, body, b, lim); err != nil {
		return nil, fmt.Errorf("decode %s with the model's own signature: %w", name, err)
	}
	return b, nil
}

// syntheticExample builds a one-row request of zeros that fits sig (or, with
// no signature, the graph inputs).
func syntheticExample(sig *signature.Signature, inputs []graphValue) []byte {
	var b bytes.Buffer
	if sig != nil && sig.Inputs != nil && !sig.Inputs.IsTensor() {
		b.WriteString(`{"dataframe_split": {"columns": [`)
		for i, c := range sig.Inputs.Columns {
			if i > 0 {
				b.WriteString(", ")
			}
			name := c.Name
			if name == "" {
				name = strconv.Itoa(i)
			}
			b.WriteString(strconv.Quote(name))
		}
		b.WriteString(`], "data": [[`)
		for i, c := range sig.Inputs.Columns {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(zeroJSON(c.Type))
		}
		b.WriteString("]]}}")
		return b.Bytes()
	}
	type spec struct {
		name  string
		dtype signature.DType
		shape []int64
	}
	var specs []spec
	if sig != nil && sig.Inputs != nil {
		for _, t := range sig.Inputs.Tensors {
			specs = append(specs, spec{t.Name, t.DType, t.Shape})
		}
	} else {
		for _, g := range inputs {
			specs = append(specs, spec{g.name, g.dtype, g.shape})
		}
	}
	nested := func(s spec) string {
		zero := "0"
		switch s.dtype {
		case signature.Bool:
			zero = "false"
		case signature.String:
			zero = `""`
		}
		v := zero
		for i := len(s.shape) - 1; i >= 0; i-- {
			n := s.shape[i]
			if n < 0 {
				n = 1
			}
			var e bytes.Buffer
			e.WriteByte('[')
			for k := int64(0); k < n; k++ {
				if k > 0 {
					e.WriteString(", ")
				}
				e.WriteString(v)
			}
			e.WriteByte(']')
			v = e.String()
		}
		return v
	}
	if len(specs) == 1 && specs[0].name == "" {
		return []byte(`{"inputs": ` + nested(specs[0]) + `}`)
	}
	b.WriteString(`{"inputs": {`)
	for i, s := range specs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(s.name) + ": " + nested(s))
	}
	b.WriteString("}}")
	return b.Bytes()
}

func zeroJSON(t signature.DataType) string {
	switch t {
	case signature.TypeBoolean:
		return "false"
	case signature.TypeString, signature.TypeBinary:
		return `""`
	case signature.TypeDatetime:
		return `"1970-01-01T00:00:00"`
	}
	return "0"
}

// probe runs the example once alone and once twice over in one batch, to
// learn each output's batch axis, and decides whether batching is safe and
// whether outputs can be preallocated and bound.
func (m *Model) probe() error {
	b, err := m.example()
	if err != nil {
		return err
	}
	defer m.plan.PutBatch(b)
	w := m.workers[0]
	one := &job{b: b}
	if err := m.runBatch(w, []*job{one}); err != nil {
		return fmt.Errorf("run the example: %w", err)
	}
	m.layouts = make([]outLayout, len(m.outputs))
	for i, o := range one.outs {
		l := outLayout{name: m.outputs[i].name, dtype: o.DType, seq: o.Seq != nil, axis: -1, dims: o.Shape}
		m.layouts[i] = l
	}
	if !m.plan.Batchable() {
		m.notBatchable = "a graph input has a fixed leading dimension"
		return nil
	}
	a, c := &job{b: b}, &job{b: b}
	m.layouts = nil // whole outputs, not split
	if err := m.runBatch(w, []*job{a, c}); err != nil {
		return fmt.Errorf("run the example twice over in one batch: %w", err)
	}
	rows := b.Rows
	layouts := make([]outLayout, len(m.outputs))
	batchable := true
	for i := range one.outs {
		x, y := &one.outs[i], &a.outs[i]
		axis := batchAxis(x, y, rows)
		layouts[i] = outLayout{name: m.outputs[i].name, dtype: x.DType, seq: x.Seq != nil, axis: axis, dims: x.Shape}
		if axis < 0 {
			batchable = false
			m.notBatchable = "output " + m.outputs[i].name + " does not scale with the batch"
			continue
		}
		layouts[i].dims = append([]int64(nil), x.Shape...)
		layouts[i].dims[axis] = -1
		var half signature.Output
		for k := 0; k < 2 && batchable; k++ {
			sliceRows(&half, y, axis, k*rows, rows)
			if d := maxDiff(x, &half); d > probeTolerance {
				batchable = false
				m.notBatchable = fmt.Sprintf("output %s changes by %.3g when rows run together", m.outputs[i].name, d)
			}
		}
	}
	if !batchable {
		for i := range layouts {
			layouts[i].axis = -1
			layouts[i].dims = one.outs[i].Shape
		}
		m.layouts = layouts
		return nil
	}
	m.layouts = layouts
	m.batchable = true
	m.bound = true
	for i, l := range layouts {
		if l.seq || l.dtype == signature.String || m.outputs[i].kind != ort.ONNXTypeTensor {
			m.bound = false
		}
	}
	return nil
}

// batchAxis finds the axis of y (the output of 2·rows rows) that is twice
// the same axis of x (the output of rows rows), all others equal.
func batchAxis(x, y *signature.Output, rows int) int {
	if x.Seq != nil || y.Seq != nil {
		if len(x.Seq) == rows && len(y.Seq) == 2*rows {
			return 0
		}
		return -1
	}
	if len(x.Shape) != len(y.Shape) {
		return -1
	}
	for a := range x.Shape {
		if x.Shape[a] != int64(rows) || y.Shape[a] != int64(2*rows) {
			continue
		}
		ok := true
		for d := range x.Shape {
			if d != a && x.Shape[d] != y.Shape[d] {
				ok = false
			}
		}
		if ok {
			return a
		}
	}
	return -1
}

// maxDiff returns the largest absolute difference between two outputs of
// the same type and shape (+Inf when they differ in kind, shape or a
// non-numeric value).
func maxDiff(x, y *signature.Output) float64 {
	if x.Seq != nil || y.Seq != nil {
		if len(x.Seq) != len(y.Seq) {
			return math.Inf(1)
		}
		d := 0.0
		for i := range x.Seq {
			a, b := x.Seq[i], y.Seq[i]
			if len(a.Values) != len(b.Values) {
				return math.Inf(1)
			}
			for k := range a.Values {
				d = max(d, diff(a.Values[k], b.Values[k]))
			}
		}
		return d
	}
	if x.DType != y.DType || len(x.Shape) != len(y.Shape) {
		return math.Inf(1)
	}
	for i := range x.Shape {
		if x.Shape[i] != y.Shape[i] {
			return math.Inf(1)
		}
	}
	d := 0.0
	switch x.DType {
	case signature.Float32:
		for i := range x.F32 {
			d = max(d, diff(float64(x.F32[i]), float64(y.F32[i])))
		}
	case signature.Float64:
		for i := range x.F64 {
			d = max(d, diff(x.F64[i], y.F64[i]))
		}
	case signature.Int32:
		for i := range x.I32 {
			d = max(d, diff(float64(x.I32[i]), float64(y.I32[i])))
		}
	case signature.Int64:
		for i := range x.I64 {
			d = max(d, diff(float64(x.I64[i]), float64(y.I64[i])))
		}
	case signature.Bool:
		for i := range x.B {
			if x.B[i] != y.B[i] {
				return math.Inf(1)
			}
		}
	case signature.String:
		for i := range x.S {
			if x.S[i] != y.S[i] {
				return math.Inf(1)
			}
		}
	}
	return d
}

func diff(a, b float64) float64 {
	if math.IsNaN(a) && math.IsNaN(b) {
		return 0
	}
	if a == b {
		return 0
	}
	return math.Abs(a - b)
}

// warmUp runs the example through every worker on the serving path and
// checks the answers against the probe's, so that a version is served only
// after each worker has built its tensors and produced the same result.
func (m *Model) warmUp() error {
	b, err := m.example()
	if err != nil {
		return err
	}
	defer m.plan.PutBatch(b)
	ref := &job{b: b}
	if err := m.runBatch(m.workers[0], []*job{ref}); err != nil {
		return fmt.Errorf("warm-up run: %w", err)
	}
	for wi, w := range m.workers {
		j := &job{b: b}
		if err := m.runBatch(w, []*job{j}); err != nil {
			return fmt.Errorf("warm-up run on worker %d: %w", wi, err)
		}
		for i := range j.outs {
			if d := maxDiff(&ref.outs[i], &j.outs[i]); d > probeTolerance {
				return fmt.Errorf("warm-up check: output %s differs by %.3g between workers", m.outputs[i].name, d)
			}
		}
		if _, err := signature.AppendPredictions(nil, b.Records, j.outs); err != nil {
			return fmt.Errorf("warm-up check: encode predictions: %w", err)
		}
	}
	return nil
}
