package onnxgen

import "strconv"

// zipmap is the sklearn-style classifier: input [N,3] → ai.onnx.ml
// LinearClassifier (3 classes, SOFTMAX) → label int64 [N] and, through
// ZipMap, probabilities seq(map(int64, float)).
//
// Its signature is column-based (x0, x1, x2 double → label long) and leaves
// probabilities out: an MLflow map type has string keys only, so no
// signature type describes ZipMap's int64-keyed maps.
const (
	zipClasses  = 3
	zipFeatures = 3
	zipRows     = 3
)

func buildZipMap() (*ModelDir, error) {
	r := newRNG(3)
	coef := r.float32s(zipClasses*zipFeatures, -1.5, 1.5)
	intercepts := r.float32s(zipClasses, -0.5, 0.5)
	x := make([]float64, zipRows*zipFeatures)
	for i := range x {
		x[i] = r.grid(2, 100)
	}

	n := Dynamic("N")
	labels := []int64{0, 1, 2}
	g := Graph{
		Name: "zipmap",
		Nodes: []Node{
			{
				Name: "linear", OpType: "LinearClassifier", Domain: DomainML,
				Inputs: []string{"input"}, Outputs: []string{"label", "probability_tensor"},
				Attrs: []Attribute{
					IntsAttr("classlabels_ints", labels...),
					FloatsAttr("coefficients", coef...),
					FloatsAttr("intercepts", intercepts...),
					IntAttr("multi_class", 0),
					StringAttr("post_transform", "SOFTMAX"),
				},
			},
			{
				Name: "zipmap", OpType: "ZipMap", Domain: DomainML,
				Inputs: []string{"probability_tensor"}, Outputs: []string{"probabilities"},
				Attrs: []Attribute{IntsAttr("classlabels_int64s", labels...)},
			},
		},
		Inputs: []ValueInfo{{Name: "input", Type: TensorType(Float, n, Fixed(zipFeatures))}},
		Outputs: []ValueInfo{
			{Name: "label", Type: TensorType(Int64, n)},
			{Name: "probabilities", Type: SequenceType(MapType(Int64, UnrankedTensorType(Float)))},
		},
	}

	// The model sees the double columns cast to float32.
	x32 := make([]float64, len(x))
	for i, v := range x {
		x32[i] = float64(float32(v))
	}
	scores := matMulT(x32, zipRows, zipFeatures, coef, zipClasses)
	gotLabels := make([]int64, zipRows)
	probs := make([]any, zipRows)
	for i := range zipRows {
		row := scores[i*zipClasses : (i+1)*zipClasses]
		for c := range row {
			row[c] += float64(intercepts[c])
		}
		best, err := argmaxClear(row, 1e-3)
		if err != nil {
			return nil, err
		}
		gotLabels[i] = labels[best]
		p := softmax(row)
		m := make(Object, zipClasses)
		for c := range p {
			m[c] = Member{strconv.FormatInt(labels[c], 10), p[c]}
		}
		probs[i] = m
	}
	exp, err := (&expected{
		model: "zipmap", rtol: 1e-5, atol: 1e-6,
		outputs: []expectedOutput{
			{"label", "int64", []int64{zipRows}, gotLabels},
			{"probabilities", "seq(map(int64,float32))", []int64{zipRows}, probs},
		},
	}).file()
	if err != nil {
		return nil, err
	}

	columns := []string{"x0", "x1", "x2"}
	frame := Object{{"columns", columns}, {"data", rows(x, zipRows)}}
	mlm := fixtureMLmodel("zipmap", 1)
	mlm.Signature = &Signature{
		Inputs: ColumnsJSON(
			ColSpec{Name: "x0", Type: "double"},
			ColSpec{Name: "x1", Type: "double"},
			ColSpec{Name: "x2", Type: "double"},
		),
		Outputs: ColumnsJSON(ColSpec{Name: "label", Type: "long"}),
	}
	mlm.InputExample = &InputExampleInfo{Type: "dataframe", PandasOrient: "split"}
	return &ModelDir{
		Model:        fixtureModel("LinearClassifier (3 classes, softmax) + ZipMap, as skl2onnx exports a LogisticRegression", g),
		MLmodel:      mlm,
		InputExample: frame,
		ServingInput: Object{{"dataframe_split", frame}},
		Extra:        []File{exp},
	}, nil
}

// matMulT returns a·bᵀ for a [n,k] and b [m,k] (LinearClassifier's
// coefficients are one row per class).
func matMulT(a []float64, n, k int, b []float32, m int) []float64 {
	zero := make([]float32, m)
	return gemmTransB(a, n, k, b, m, zero)
}
