package onnxgen

import (
	"fmt"
	"math"
)

// WideMLPName is the directory and registered-model name of the widemlp
// fixture.
const WideMLPName = "widemlp"

// widemlp is the benchmark fixture on which batching pays: input [N,64] →
// three Gemm + Relu layers 2048 wide → Gemm 2048×1 → Sigmoid → probability
// [N,1]. Its 8.5 million float32 weights (34 MB, more than a server's last
// level cache) are read from memory once per call whatever the batch, so a
// one-row call costs milliseconds while a 64-row call costs a fraction of
// that per row. The request stays small (64 numbers), so the HTTP and
// decoding cost per request is that of a light model.
const (
	wideIn     = 64
	wideHidden = 2048
	wideLayers = 3
	wideRows   = 2
)

// WideMLP builds the widemlp fixture. It is not stored under testdata/models
// (its weights are 34 MB) but generated where it is needed, the benchmark
// harness's registry: like every fixture, the same bytes on every run and
// machine.
func WideMLP() (Fixture, error) {
	d, err := buildWideMLP()
	if err != nil {
		return Fixture{}, fmt.Errorf("fixture %s: %w", WideMLPName, err)
	}
	files, err := d.Files()
	if err != nil {
		return Fixture{}, fmt.Errorf("fixture %s: %w", WideMLPName, err)
	}
	return Fixture{Name: WideMLPName, Files: files}, nil
}

func buildWideMLP() (*ModelDir, error) {
	r := newRNG(2048)
	// He-uniform weights keep the activations' scale through the Relu
	// layers, so the output is neither saturated nor constant.
	he := func(fanIn int) float64 { return math.Sqrt(6 / float64(fanIn)) }

	type layer struct {
		w, b    []float32
		in, out int
	}
	var layers []layer
	in := wideIn
	for range wideLayers {
		a := he(in)
		layers = append(layers, layer{w: r.float32s(wideHidden*in, -a, a), b: r.float32s(wideHidden, -0.05, 0.05), in: in, out: wideHidden})
		in = wideHidden
	}
	a := math.Sqrt(6 / float64(wideHidden))
	layers = append(layers, layer{w: r.float32s(wideHidden, -a, a), b: []float32{0.05}, in: wideHidden, out: 1})

	x := make([]float32, wideRows*wideIn)
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
	var nodes []Node
	var inits []Tensor
	cur := "input"
	for i, l := range layers {
		w, b := fmt.Sprintf("W%d", i+1), fmt.Sprintf("b%d", i+1)
		inits = append(inits,
			Float32s(w, []int64{int64(l.out), int64(l.in)}, l.w),
			Float32s(b, []int64{int64(l.out)}, l.b))
		if i == len(layers)-1 {
			nodes = append(nodes,
				gemm(fmt.Sprintf("dense%d", i+1), cur, w, b, "logit"),
				Node{Name: "sigmoid", OpType: "Sigmoid", Inputs: []string{"logit"}, Outputs: []string{"probability"}})
			break
		}
		pre, out := fmt.Sprintf("h%d_pre", i+1), fmt.Sprintf("h%d", i+1)
		nodes = append(nodes,
			gemm(fmt.Sprintf("dense%d", i+1), cur, w, b, pre),
			Node{Name: fmt.Sprintf("relu%d", i+1), OpType: "Relu", Inputs: []string{pre}, Outputs: []string{out}})
		cur = out
	}
	n := Dynamic("N")
	g := Graph{
		Name:         WideMLPName,
		Nodes:        nodes,
		Initializers: inits,
		Inputs:       []ValueInfo{{Name: "input", Type: TensorType(Float, n, Fixed(wideIn))}},
		Outputs:      []ValueInfo{{Name: "probability", Type: TensorType(Float, n, Fixed(1))}},
	}

	h := widen(x)
	for i, l := range layers {
		h = gemmTransB(h, wideRows, l.in, l.w, l.out, l.b)
		if i < len(layers)-1 {
			reluInPlace(h)
		}
	}
	p := make([]float64, wideRows)
	for i, logit := range h {
		p[i] = sigmoid(logit)
		if p[i] < 0.05 || p[i] > 0.95 {
			return nil, fmt.Errorf("row %d: probability %g is saturated", i, p[i])
		}
	}
	// Sums of 2048 float32 products: ONNX Runtime's float32 accumulation
	// differs from the float64 reference by more than mlp256's does.
	exp, err := (&expected{
		model: WideMLPName, rtol: 1e-4, atol: 1e-6,
		outputs: []expectedOutput{{"probability", "float32", []int64{wideRows, 1}, rows(p, wideRows)}},
	}).file()
	if err != nil {
		return nil, err
	}

	inRows := rows(x, wideRows)
	mlm := fixtureMLmodel(WideMLPName, 5)
	mlm.Signature = &Signature{
		Inputs:  TensorsJSON(TensorSpec{DType: "float32", Shape: []int64{-1, wideIn}}),
		Outputs: TensorsJSON(TensorSpec{Name: "probability", DType: "float32", Shape: []int64{-1, 1}}),
	}
	mlm.InputExample = &InputExampleInfo{Type: "ndarray"}
	return &ModelDir{
		Model:             fixtureModel("MLP 64-2048-2048-2048-1 (relu, sigmoid), weights in external data", g),
		ExternalThreshold: DefaultExternalThreshold,
		MLmodel:           mlm,
		InputExample:      inRows,
		ServingInput:      Object{{"inputs", inRows}},
		Extra:             []File{exp},
	}, nil
}
