package onnxgen

import (
	"fmt"
	"math"
)

// mlp256 is the compute-heavy fixture: input [N,256] → Gemm 256×512 + Relu →
// Gemm 512×512 + Relu → Gemm 512×1 → Sigmoid → probability [N,1], with its
// weights (about 1.5 MB of float32) in an external-data file.
const (
	mlpIn     = 256
	mlpHidden = 512
	mlpRows   = 2
)

func buildMLP256() (*ModelDir, error) {
	r := newRNG(256)
	glorot := func(fanIn, fanOut int) float64 { return math.Sqrt(6 / float64(fanIn+fanOut)) }
	a1, a2, a3 := glorot(mlpIn, mlpHidden), glorot(mlpHidden, mlpHidden), glorot(mlpHidden, 1)
	w1 := r.float32s(mlpHidden*mlpIn, -a1, a1)
	b1 := r.float32s(mlpHidden, -0.1, 0.1)
	w2 := r.float32s(mlpHidden*mlpHidden, -a2, a2)
	b2 := r.float32s(mlpHidden, -0.1, 0.1)
	w3 := r.float32s(mlpHidden, -a3, a3)
	b3 := []float32{0.05}

	x := make([]float32, mlpRows*mlpIn)
	for i := range x {
		x[i] = float32(r.grid(1, 128))
	}

	gemm := func(name, in, w, b, out string) Node {
		return Node{
			Name: name, OpType: "Gemm",
			Inputs: []string{in, w, b}, Outputs: []string{out},
			Attrs: []Attribute{FloatAttr("alpha", 1), FloatAttr("beta", 1), IntAttr("transB", 1)},
		}
	}
	n := Dynamic("N")
	g := Graph{
		Name: "mlp256",
		Nodes: []Node{
			gemm("dense1", "input", "W1", "b1", "h1_pre"),
			{Name: "relu1", OpType: "Relu", Inputs: []string{"h1_pre"}, Outputs: []string{"h1"}},
			gemm("dense2", "h1", "W2", "b2", "h2_pre"),
			{Name: "relu2", OpType: "Relu", Inputs: []string{"h2_pre"}, Outputs: []string{"h2"}},
			gemm("dense3", "h2", "W3", "b3", "logit"),
			{Name: "sigmoid", OpType: "Sigmoid", Inputs: []string{"logit"}, Outputs: []string{"probability"}},
		},
		Initializers: []Tensor{
			Float32s("W1", []int64{mlpHidden, mlpIn}, w1),
			Float32s("b1", []int64{mlpHidden}, b1),
			Float32s("W2", []int64{mlpHidden, mlpHidden}, w2),
			Float32s("b2", []int64{mlpHidden}, b2),
			Float32s("W3", []int64{1, mlpHidden}, w3),
			Float32s("b3", []int64{1}, b3),
		},
		Inputs:  []ValueInfo{{Name: "input", Type: TensorType(Float, n, Fixed(mlpIn))}},
		Outputs: []ValueInfo{{Name: "probability", Type: TensorType(Float, n, Fixed(1))}},
	}

	h := gemmTransB(widen(x), mlpRows, mlpIn, w1, mlpHidden, b1)
	reluInPlace(h)
	h = gemmTransB(h, mlpRows, mlpHidden, w2, mlpHidden, b2)
	reluInPlace(h)
	logit := gemmTransB(h, mlpRows, mlpHidden, w3, 1, b3)
	p := make([]float64, mlpRows)
	for i, l := range logit {
		p[i] = sigmoid(l)
		if p[i] < 0.05 || p[i] > 0.95 {
			return nil, fmt.Errorf("row %d: probability %g is saturated", i, p[i])
		}
	}
	exp, err := (&expected{
		model: "mlp256", rtol: 1e-4, atol: 1e-6,
		outputs: []expectedOutput{{"probability", "float32", []int64{mlpRows, 1}, rows(p, mlpRows)}},
	}).file()
	if err != nil {
		return nil, err
	}

	in := rows(x, mlpRows)
	mlm := fixtureMLmodel("mlp256", 0)
	mlm.Signature = &Signature{
		Inputs:  TensorsJSON(TensorSpec{DType: "float32", Shape: []int64{-1, mlpIn}}),
		Outputs: TensorsJSON(TensorSpec{Name: "probability", DType: "float32", Shape: []int64{-1, 1}}),
	}
	mlm.InputExample = &InputExampleInfo{Type: "ndarray"}
	return &ModelDir{
		Model:             fixtureModel("MLP 256-512-512-1 (relu, sigmoid), weights in external data", g),
		ExternalThreshold: DefaultExternalThreshold,
		MLmodel:           mlm,
		InputExample:      in,
		ServingInput:      Object{{"inputs", in}},
		Extra:             []File{exp},
	}, nil
}
