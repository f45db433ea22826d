package onnxgen

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// This file is a small float64 ONNX interpreter for the operators the
// fixtures use. The tests run each fixture's decoded model.onnx (weights
// read back from the files, external data included) on its serving example
// and compare with expected.json, so a fixture whose graph or attributes do
// not compute what its reference evaluation assumed is caught without ONNX
// Runtime.

// ivalue is a tensor (shape plus num or str data) or a sequence of maps.
type ivalue struct {
	elem  DataType
	shape []int64
	num   []float64 // every numeric and bool type; int64 values are exact below 2^53
	i64   []int64   // Int64 tensors keep exact values here too
	str   []string
	maps  []map[int64]float64 // seq(map(int64, float))
	isSeq bool
}

func (v *ivalue) size() int64 {
	n := int64(1)
	for _, d := range v.shape {
		n *= d
	}
	return n
}

// tensorValue loads an initializer, reading external data from dir.
func tensorValue(t *Tensor, dir string) (*ivalue, error) {
	v := &ivalue{elem: t.Type, shape: t.Dims}
	if t.Type == String {
		for _, s := range t.Strings {
			v.str = append(v.str, string(s))
		}
		return v, nil
	}
	raw := t.Raw
	if e := t.External; e != nil {
		f, err := os.ReadFile(filepath.Join(dir, e.Location))
		if err != nil {
			return nil, err
		}
		if e.Offset+e.Length > int64(len(f)) {
			return nil, fmt.Errorf("tensor %s: external range %d+%d past the file's %d bytes", t.Name, e.Offset, e.Length, len(f))
		}
		raw = f[e.Offset : e.Offset+e.Length]
	}
	n := int(v.size())
	if len(raw) != n*t.Type.Size() {
		return nil, fmt.Errorf("tensor %s: %d raw bytes for %d elements of size %d", t.Name, len(raw), n, t.Type.Size())
	}
	v.num = make([]float64, n)
	for i := range n {
		switch t.Type {
		case Float:
			v.num[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		case Double:
			v.num[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		case Int32:
			v.num[i] = float64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		case Int64:
			x := int64(binary.LittleEndian.Uint64(raw[8*i:]))
			v.i64 = append(v.i64, x)
			v.num[i] = float64(x)
		case Bool:
			v.num[i] = float64(raw[i])
		default:
			return nil, fmt.Errorf("tensor %s: unsupported type %d", t.Name, t.Type)
		}
	}
	return v, nil
}

func attr(n *Node, name string) *Attribute {
	for i := range n.Attrs {
		if n.Attrs[i].Name == name {
			return &n.Attrs[i]
		}
	}
	return nil
}

// run evaluates m's graph on inputs. dir is the model's directory, for
// external data.
func run(m *Model, dir string, inputs map[string]*ivalue) (map[string]*ivalue, error) {
	env := make(map[string]*ivalue, len(inputs))
	for k, v := range inputs {
		env[k] = v
	}
	for i := range m.Graph.Initializers {
		v, err := tensorValue(&m.Graph.Initializers[i], dir)
		if err != nil {
			return nil, err
		}
		env[m.Graph.Initializers[i].Name] = v
	}
	for i := range m.Graph.Nodes {
		n := &m.Graph.Nodes[i]
		in := make([]*ivalue, len(n.Inputs))
		for j, name := range n.Inputs {
			if in[j] = env[name]; in[j] == nil {
				return nil, fmt.Errorf("node %s: input %s is not defined", n.Name, name)
			}
		}
		outs, err := evalNode(n, in)
		if err != nil {
			return nil, fmt.Errorf("node %s (%s): %w", n.Name, n.OpType, err)
		}
		if len(outs) != len(n.Outputs) {
			return nil, fmt.Errorf("node %s: %d outputs; graph names %d", n.Name, len(outs), len(n.Outputs))
		}
		for j, name := range n.Outputs {
			env[name] = outs[j]
		}
	}
	res := make(map[string]*ivalue)
	for _, o := range m.Graph.Outputs {
		if res[o.Name] = env[o.Name]; res[o.Name] == nil {
			return nil, fmt.Errorf("graph output %s is not computed", o.Name)
		}
	}
	return res, nil
}

func evalNode(n *Node, in []*ivalue) ([]*ivalue, error) {
	switch n.OpType {
	case "Identity":
		return []*ivalue{in[0]}, nil
	case "Relu", "Sigmoid":
		out := &ivalue{elem: in[0].elem, shape: in[0].shape, num: make([]float64, len(in[0].num))}
		for i, x := range in[0].num {
			if n.OpType == "Relu" {
				out.num[i] = math.Max(x, 0)
			} else {
				out.num[i] = sigmoid(x)
			}
		}
		return []*ivalue{out}, nil
	case "Cast":
		to := DataType(attr(n, "to").I)
		if to != Double {
			return nil, fmt.Errorf("cast to %d not supported", to)
		}
		return []*ivalue{{elem: to, shape: in[0].shape, num: in[0].num}}, nil
	case "Add", "Mul":
		return broadcast(n.OpType, in[0], in[1])
	case "Gemm":
		if a := attr(n, "transA"); a != nil && a.I != 0 {
			return nil, fmt.Errorf("transA not supported")
		}
		alpha, beta := 1.0, 1.0
		if a := attr(n, "alpha"); a != nil {
			alpha = float64(a.F)
		}
		if a := attr(n, "beta"); a != nil {
			beta = float64(a.F)
		}
		transB := attr(n, "transB") != nil && attr(n, "transB").I == 1
		a, b, c := in[0], in[1], in[2]
		rowsA, k := a.shape[0], a.shape[1]
		m := b.shape[1]
		if transB {
			m = b.shape[0]
		}
		out := &ivalue{elem: a.elem, shape: []int64{rowsA, m}, num: make([]float64, rowsA*m)}
		for i := range rowsA {
			for j := range m {
				s := 0.0
				for p := range k {
					bv := b.num[p*m+j]
					if transB {
						bv = b.num[j*k+p]
					}
					s += a.num[i*k+p] * bv
				}
				out.num[i*m+j] = alpha*s + beta*c.num[j%int64(len(c.num))]
			}
		}
		return []*ivalue{out}, nil
	case "MatMul":
		a, b := in[0], in[1]
		rowsA, k, m := a.shape[0], a.shape[1], b.shape[1]
		if b.shape[0] != k {
			return nil, fmt.Errorf("shapes %v and %v", a.shape, b.shape)
		}
		out := &ivalue{elem: a.elem, shape: []int64{rowsA, m}, num: make([]float64, rowsA*m)}
		for i := range rowsA {
			for j := range m {
				for p := range k {
					out.num[i*m+j] += a.num[i*k+p] * b.num[p*m+j]
				}
			}
		}
		return []*ivalue{out}, nil
	case "ReduceSum":
		a, axes := in[0], in[1]
		keep := attr(n, "keepdims") == nil || attr(n, "keepdims").I == 1
		if len(a.shape) != 2 || len(axes.i64) != 1 || axes.i64[0] != 1 || !keep {
			return nil, fmt.Errorf("only a keepdims sum over axis 1 of a matrix is supported")
		}
		r, c := a.shape[0], a.shape[1]
		out := &ivalue{elem: a.elem, shape: []int64{r, 1}, num: make([]float64, r)}
		for i := range r {
			for j := range c {
				out.num[i] += a.num[i*c+j]
			}
		}
		return []*ivalue{out}, nil
	case "LinearClassifier":
		x := in[0]
		coef := attr(n, "coefficients").Floats
		intercepts := attr(n, "intercepts").Floats
		labels := attr(n, "classlabels_ints").Ints
		if pt := string(attr(n, "post_transform").S); pt != "SOFTMAX" {
			return nil, fmt.Errorf("post_transform %s not supported", pt)
		}
		rowsX, k, classes := x.shape[0], x.shape[1], int64(len(labels))
		label := &ivalue{elem: Int64, shape: []int64{rowsX}}
		probs := &ivalue{elem: Float, shape: []int64{rowsX, classes}}
		for i := range rowsX {
			scores := make([]float64, classes)
			for c := range classes {
				scores[c] = float64(intercepts[c])
				for p := range k {
					scores[c] += x.num[i*k+p] * float64(coef[c*k+p])
				}
			}
			best, err := argmaxClear(scores, 0)
			if err != nil {
				return nil, err
			}
			label.i64 = append(label.i64, labels[best])
			label.num = append(label.num, float64(labels[best]))
			probs.num = append(probs.num, softmax(scores)...)
		}
		return []*ivalue{label, probs}, nil
	case "ArgMax", "Softmax":
		x := in[0]
		if a := attr(n, "axis"); len(x.shape) != 2 || a == nil || a.I != 1 {
			return nil, fmt.Errorf("only axis 1 of a matrix is supported")
		}
		if k := attr(n, "keepdims"); n.OpType == "ArgMax" && (k == nil || k.I != 0) {
			return nil, fmt.Errorf("only keepdims=0 is supported")
		}
		r, c := x.shape[0], x.shape[1]
		if n.OpType == "Softmax" {
			out := &ivalue{elem: x.elem, shape: x.shape}
			for i := range r {
				out.num = append(out.num, softmax(x.num[i*c:(i+1)*c])...)
			}
			return []*ivalue{out}, nil
		}
		out := &ivalue{elem: Int64, shape: []int64{r}}
		for i := range r {
			best, err := argmaxClear(x.num[i*c:(i+1)*c], 0)
			if err != nil {
				return nil, err
			}
			out.i64 = append(out.i64, int64(best))
			out.num = append(out.num, float64(best))
		}
		return []*ivalue{out}, nil
	case "ZipMap":
		labels := attr(n, "classlabels_int64s").Ints
		x := in[0]
		out := &ivalue{isSeq: true, shape: []int64{x.shape[0]}}
		for i := range x.shape[0] {
			m := make(map[int64]float64, len(labels))
			for c, l := range labels {
				m[l] = x.num[i*int64(len(labels))+int64(c)]
			}
			out.maps = append(out.maps, m)
		}
		return []*ivalue{out}, nil
	}
	return nil, fmt.Errorf("operator not supported")
}

// broadcast applies op with b broadcast onto a, for the one form the
// fixtures use: b's shape is a's trailing dimensions.
func broadcast(op string, a, b *ivalue) ([]*ivalue, error) {
	if len(b.shape) > len(a.shape) || fmt.Sprint(b.shape) != fmt.Sprint(a.shape[len(a.shape)-len(b.shape):]) {
		return nil, fmt.Errorf("cannot broadcast %v onto %v", b.shape, a.shape)
	}
	out := &ivalue{elem: a.elem, shape: a.shape, num: make([]float64, len(a.num))}
	for i, x := range a.num {
		y := b.num[i%len(b.num)]
		if op == "Add" {
			out.num[i] = x + y
		} else {
			out.num[i] = x * y
		}
	}
	return []*ivalue{out}, nil
}
