package onnxgen

import (
	"fmt"
	"math"
)

// This file is the float64 reference evaluator behind each fixture's
// expected.json: the operators the fixtures use, computed in float64 from
// the float32 weights and inputs the model sees.
//
// Every product that feeds a sum is converted explicitly (float64(a*b)),
// which the Go spec guarantees prevents fusing it into an FMA, and exp is
// computed here rather than by math.Exp, which has per-architecture
// assembly: expected.json is then the same on every platform.

// widen returns v as float64.
func widen(v []float32) []float64 {
	w := make([]float64, len(v))
	for i, x := range v {
		w[i] = float64(x)
	}
	return w
}

// gemmTransB returns Gemm(a, b, c) with transB=1, alpha=beta=1: a is [n,k]
// row-major, b is [m,k], c is [m] broadcast over rows. The result is [n,m].
func gemmTransB(a []float64, n, k int, b []float32, m int, c []float32) []float64 {
	y := make([]float64, n*m)
	for i := range n {
		for j := range m {
			s := 0.0
			for p := range k {
				s += float64(a[i*k+p] * float64(b[j*k+p]))
			}
			y[i*m+j] = s + float64(c[j])
		}
	}
	return y
}

// matMul returns a·b for a [n,k] and b [k,m], row-major.
func matMul(a []float64, n, k int, b []float32, m int) []float64 {
	y := make([]float64, n*m)
	for i := range n {
		for j := range m {
			s := 0.0
			for p := range k {
				s += float64(a[i*k+p] * float64(b[p*m+j]))
			}
			y[i*m+j] = s
		}
	}
	return y
}

func reluInPlace(v []float64) {
	for i, x := range v {
		if x < 0 {
			v[i] = 0
		}
	}
}

func sigmoid(x float64) float64 { return 1 / (1 + exp(-x)) }

// exp returns e^x from IEEE 754 basic operations only, each rounded
// explicitly, so that it gives the same bits on every platform. x is reduced
// to r = x - k·ln2 with |r| ≤ ln2/2 (ln2 split in two so that k·ln2Hi is
// exact), and e^r is a Horner-evaluated Taylor series whose first omitted
// term is below 1e-23. It is within a few ulps of e^x, which is plenty for a
// reference compared with a tolerance.
func exp(x float64) float64 {
	const (
		ln2Hi = 6.93147180369123816490e-01 // ln 2 with its low 32 bits zero
		ln2Lo = 1.90821492927058770002e-10 // ln 2 - ln2Hi
	)
	switch {
	case math.IsNaN(x) || math.IsInf(x, 1):
		return x
	case x > 709.8:
		return math.Inf(1)
	case x < -745.2:
		return 0
	}
	k := math.Round(x / math.Ln2)
	r := x - float64(k*ln2Hi) - float64(k*ln2Lo)
	s := 1.0
	for n := 17; n >= 1; n-- {
		s = 1 + float64(r*s)/float64(n)
	}
	return math.Ldexp(s, int(k))
}

// softmax returns the softmax of v.
func softmax(v []float64) []float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	out := make([]float64, len(v))
	sum := 0.0
	for i, x := range v {
		out[i] = exp(x - m)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// argmaxClear returns the index of v's largest value, and an error when the
// runner-up is within margin of it: a float32 runtime could then pick the
// other class.
func argmaxClear(v []float64, margin float64) (int, error) {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	for i := range v {
		if i != best && v[best]-v[i] < margin {
			return 0, fmt.Errorf("scores %v: classes %d and %d are within %g", v, best, i, margin)
		}
	}
	return best, nil
}

// rows reshapes flat row-major data into n rows.
func rows[T any](flat []T, n int) [][]T {
	w := len(flat) / n
	out := make([][]T, n)
	for i := range out {
		out[i] = flat[i*w : (i+1)*w]
	}
	return out
}

// expected describes a fixture's expected.json: the outputs a runtime must
// produce for the fixture's serving_input_example.json.
type expected struct {
	model string
	// rtol and atol bound floating outputs:
	// |got - want| <= atol + rtol*|want|.
	rtol, atol float64
	outputs    []expectedOutput
}

// expectedOutput is one graph output. data is nested like shape (a list of
// objects for a sequence of maps).
type expectedOutput struct {
	name  string
	dtype string
	shape []int64
	data  any
}

// expectedFileName is the name of the expected-outputs file in a fixture.
const expectedFileName = "expected.json"

// file encodes e as expected.json (Python-style JSON, indent 2, with a
// trailing newline).
func (e *expected) file() (File, error) {
	outs := make(Object, len(e.outputs))
	for i, o := range e.outputs {
		outs[i] = Member{o.name, Object{
			{"dtype", o.dtype},
			{"shape", o.shape},
			{"data", o.data},
		}}
	}
	doc := Object{
		{"model", e.model},
		{"input", ServingInputExampleFile},
		{"reference", "float64 evaluation in Go of the model's weights on the float32 (or int, bool, string) values the graph receives"},
		{"comparison", "floating outputs: |got - want| <= atol + rtol * |want|; integer, bool and string outputs: exact"},
		{"rtol", e.rtol},
		{"atol", e.atol},
		{"outputs", outs},
	}
	b, err := PythonJSONIndent(doc, 2)
	if err != nil {
		return File{}, fmt.Errorf("%s %s: %w", e.model, expectedFileName, err)
	}
	return File{expectedFileName, append(b, '\n')}, nil
}
