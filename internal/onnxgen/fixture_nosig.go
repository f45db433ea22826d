package onnxgen

import "fmt"

// nosig is churn-like: input [N,4] → MatMul W [4,1] → Add b → Sigmoid →
// probability [N,1], logged without a signature (MLmodel has no signature
// key), so the graph's own inputs are the only schema.
const nosigRows = 3

func buildNoSig() (*ModelDir, error) {
	r := newRNG(4)
	w := r.float32s(4, -0.5, 0.5)
	b := []float32{-0.25}
	x := make([]float32, nosigRows*4)
	for i := range x {
		x[i] = float32(r.grid(2, 16))
	}

	n := Dynamic("N")
	g := Graph{
		Name: "nosig",
		Nodes: []Node{
			{Name: "dense", OpType: "MatMul", Inputs: []string{"input", "W"}, Outputs: []string{"logit_raw"}},
			{Name: "bias", OpType: "Add", Inputs: []string{"logit_raw", "b"}, Outputs: []string{"logit"}},
			{Name: "sigmoid", OpType: "Sigmoid", Inputs: []string{"logit"}, Outputs: []string{"probability"}},
		},
		Initializers: []Tensor{
			Float32s("W", []int64{4, 1}, w),
			Float32s("b", []int64{1}, b),
		},
		Inputs:  []ValueInfo{{Name: "input", Type: TensorType(Float, n, Fixed(4))}},
		Outputs: []ValueInfo{{Name: "probability", Type: TensorType(Float, n, Fixed(1))}},
	}

	logit := matMul(widen(x), nosigRows, 4, w, 1)
	p := make([]float64, nosigRows)
	for i := range p {
		p[i] = sigmoid(logit[i] + float64(b[0]))
		if p[i] < 0.05 || p[i] > 0.95 {
			return nil, fmt.Errorf("row %d: probability %g is saturated", i, p[i])
		}
	}
	exp, err := (&expected{
		model: "nosig", rtol: 1e-5, atol: 1e-6,
		outputs: []expectedOutput{{"probability", "float32", []int64{nosigRows, 1}, rows(p, nosigRows)}},
	}).file()
	if err != nil {
		return nil, err
	}

	in := rows(x, nosigRows)
	mlm := fixtureMLmodel("nosig", 4)
	mlm.InputExample = &InputExampleInfo{Type: "ndarray"}
	return &ModelDir{
		Model:        fixtureModel("logistic regression on 4 features, logged without a signature", g),
		MLmodel:      mlm,
		InputExample: in,
		ServingInput: Object{{"inputs", in}},
		Extra:        []File{exp},
	}, nil
}
