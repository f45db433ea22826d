package onnxgen

// fixed1 has a fixed leading dimension: input [1,4] → Mul by w [4] →
// ReduceSum over axis 1 (keepdims) → output [1,1]. Its signature says
// (1, 4), so requests for it cannot be batched together.
func buildFixed1() (*ModelDir, error) {
	r := newRNG(1)
	w := r.float32s(4, -1, 1)
	x := make([]float32, 4)
	for i := range x {
		x[i] = float32(r.grid(2, 16))
	}

	g := Graph{
		Name: "fixed1",
		Nodes: []Node{
			{Name: "scale", OpType: "Mul", Inputs: []string{"input", "w"}, Outputs: []string{"scaled"}},
			{
				Name: "sum", OpType: "ReduceSum", Inputs: []string{"scaled", "axes"}, Outputs: []string{"output"},
				Attrs: []Attribute{IntAttr("keepdims", 1)},
			},
		},
		Initializers: []Tensor{
			Float32s("w", []int64{4}, w),
			Int64s("axes", []int64{1}, []int64{1}),
		},
		Inputs:  []ValueInfo{{Name: "input", Type: TensorType(Float, Fixed(1), Fixed(4))}},
		Outputs: []ValueInfo{{Name: "output", Type: TensorType(Float, Fixed(1), Fixed(1))}},
	}

	sum := 0.0
	for i := range x {
		sum += float64(float64(x[i]) * float64(w[i]))
	}
	exp, err := (&expected{
		model: "fixed1", rtol: 1e-5, atol: 1e-6,
		outputs: []expectedOutput{{"output", "float32", []int64{1, 1}, [][]float64{{sum}}}},
	}).file()
	if err != nil {
		return nil, err
	}

	in := [][]float32{x}
	mlm := fixtureMLmodel("fixed1", 3)
	mlm.Signature = &Signature{
		Inputs:  TensorsJSON(TensorSpec{DType: "float32", Shape: []int64{1, 4}}),
		Outputs: TensorsJSON(TensorSpec{Name: "output", DType: "float32", Shape: []int64{1, 1}}),
	}
	mlm.InputExample = &InputExampleInfo{Type: "ndarray"}
	return &ModelDir{
		Model:        fixtureModel("weighted sum of a fixed [1,4] input (not batchable)", g),
		MLmodel:      mlm,
		InputExample: in,
		ServingInput: Object{{"inputs", in}},
		Extra:        []File{exp},
	}, nil
}
