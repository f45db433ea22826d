package onnxgen

// labelprobs is a classifier without ZipMap, as skl2onnx exports one with
// zipmap=False: input [N,3] → MatMul W [3,4] → Add b → logits, then ArgMax
// → label int64 [N] and Softmax → probabilities float32 [N,4]. Its outputs
// have different shapes per row, which MLflow's scoring server cannot put
// into a DataFrame; its column-based signature names both (probabilities
// as an array of floats).
const (
	lpClasses  = 4
	lpFeatures = 3
	lpRows     = 3
)

func buildLabelProbs() (*ModelDir, error) {
	r := newRNG(6)
	w := r.float32s(lpFeatures*lpClasses, -1.5, 1.5)
	b := r.float32s(lpClasses, -0.5, 0.5)
	x := make([]float64, lpRows*lpFeatures)
	for i := range x {
		x[i] = r.grid(2, 100)
	}

	n := Dynamic("N")
	g := Graph{
		Name: "labelprobs",
		Nodes: []Node{
			{Name: "dense", OpType: "MatMul", Inputs: []string{"input", "W"}, Outputs: []string{"logits_raw"}},
			{Name: "bias", OpType: "Add", Inputs: []string{"logits_raw", "b"}, Outputs: []string{"logits"}},
			{Name: "argmax", OpType: "ArgMax", Inputs: []string{"logits"}, Outputs: []string{"label"},
				Attrs: []Attribute{IntAttr("axis", 1), IntAttr("keepdims", 0)}},
			{Name: "softmax", OpType: "Softmax", Inputs: []string{"logits"}, Outputs: []string{"probabilities"},
				Attrs: []Attribute{IntAttr("axis", 1)}},
		},
		Initializers: []Tensor{
			Float32s("W", []int64{lpFeatures, lpClasses}, w),
			Float32s("b", []int64{lpClasses}, b),
		},
		Inputs: []ValueInfo{{Name: "input", Type: TensorType(Float, n, Fixed(lpFeatures))}},
		Outputs: []ValueInfo{
			{Name: "label", Type: TensorType(Int64, n)},
			{Name: "probabilities", Type: TensorType(Float, n, Fixed(lpClasses))},
		},
	}

	// The model sees the double columns cast to float32.
	x32 := make([]float64, len(x))
	for i, v := range x {
		x32[i] = float64(float32(v))
	}
	logits := matMul(x32, lpRows, lpFeatures, w, lpClasses)
	labels := make([]int64, lpRows)
	probs := make([]float64, 0, lpRows*lpClasses)
	for i := range lpRows {
		row := logits[i*lpClasses : (i+1)*lpClasses]
		for c := range row {
			row[c] += float64(b[c])
		}
		best, err := argmaxClear(row, 1e-3)
		if err != nil {
			return nil, err
		}
		labels[i] = int64(best)
		probs = append(probs, softmax(row)...)
	}
	exp, err := (&expected{
		model: "labelprobs", rtol: 1e-5, atol: 1e-6,
		outputs: []expectedOutput{
			{"label", "int64", []int64{lpRows}, labels},
			{"probabilities", "float32", []int64{lpRows, lpClasses}, rows(probs, lpRows)},
		},
	}).file()
	if err != nil {
		return nil, err
	}

	frame := Object{{"columns", []string{"x0", "x1", "x2"}}, {"data", rows(x, lpRows)}}
	mlm := fixtureMLmodel("labelprobs", 6)
	mlm.Signature = &Signature{
		Inputs: ColumnsJSON(
			ColSpec{Name: "x0", Type: "double"},
			ColSpec{Name: "x1", Type: "double"},
			ColSpec{Name: "x2", Type: "double"},
		),
		Outputs: ColumnsJSON(
			ColSpec{Name: "label", Type: "long"},
			ColSpec{Name: "probabilities", Type: "array", Items: "float"},
		),
	}
	mlm.InputExample = &InputExampleInfo{Type: "dataframe", PandasOrient: "split"}
	return &ModelDir{
		Model:        fixtureModel("MatMul + Add → ArgMax label [N] and Softmax probabilities [N,4], as skl2onnx exports a classifier with zipmap=False", g),
		MLmodel:      mlm,
		InputExample: frame,
		ServingInput: Object{{"dataframe_split", frame}},
		Extra:        []File{exp},
	}, nil
}
