package onnxgen

// dtypes is the echo model over every element type an MLflow tensor
// signature uses: inputs f32, f64, i32, i64, b, s (all [N]) come back as
// f32_out … s_out through Identity, plus sum = f32 + f64 + i32 + i64 + b
// computed in float64.
//
// The example values are chosen to catch lossy decoders: a float32 that is
// not a short decimal (0.1), a float64 in exponent form (1e-05), int32's
// extremes, an int64 above 2^53 (9007199254740993, which a float64 cannot
// hold), and strings with non-ASCII text and a character outside the BMP.
const dtypesRows = 3

func buildDTypes() (*ModelDir, error) {
	f32 := []float32{0.1, -2.5, 3.25}
	f64 := []float64{0.1, 1e-05, -12345.678}
	i32 := []int32{1, -2147483648, 2147483647}
	i64 := []int64{42, -3, 9007199254740993}
	b := []bool{true, false, true}
	s := []string{"alpha", "béta", "emoji \U0001F600"}

	n := Dynamic("N")
	vec := func(t DataType) Type { return TensorType(t, n) }
	identity := func(in string) Node {
		return Node{Name: "echo_" + in, OpType: "Identity", Inputs: []string{in}, Outputs: []string{in + "_out"}}
	}
	toDouble := func(in string) Node {
		return Node{
			Name: "cast_" + in, OpType: "Cast",
			Inputs: []string{in}, Outputs: []string{in + "_f64"},
			Attrs: []Attribute{IntAttr("to", int64(Double))},
		}
	}
	add := func(name, a, b, out string) Node {
		return Node{Name: name, OpType: "Add", Inputs: []string{a, b}, Outputs: []string{out}}
	}
	type column struct {
		name  string
		onnx  DataType
		numpy string
	}
	cols := []column{
		{"f32", Float, "float32"}, {"f64", Double, "float64"}, {"i32", Int32, "int32"},
		{"i64", Int64, "int64"}, {"b", Bool, "bool"}, {"s", String, "str"},
	}
	g := Graph{Name: "dtypes"}
	var inSpecs, outSpecs []TensorSpec
	for _, c := range cols {
		g.Inputs = append(g.Inputs, ValueInfo{Name: c.name, Type: vec(c.onnx)})
		g.Outputs = append(g.Outputs, ValueInfo{Name: c.name + "_out", Type: vec(c.onnx)})
		g.Nodes = append(g.Nodes, identity(c.name))
		inSpecs = append(inSpecs, TensorSpec{Name: c.name, DType: c.numpy, Shape: []int64{-1}})
		outSpecs = append(outSpecs, TensorSpec{Name: c.name + "_out", DType: c.numpy, Shape: []int64{-1}})
	}
	g.Nodes = append(g.Nodes,
		toDouble("f32"), toDouble("i32"), toDouble("i64"), toDouble("b"),
		add("add1", "f32_f64", "f64", "sum1"),
		add("add2", "sum1", "i32_f64", "sum2"),
		add("add3", "sum2", "i64_f64", "sum3"),
		add("add4", "sum3", "b_f64", "sum"),
	)
	g.Outputs = append(g.Outputs, ValueInfo{Name: "sum", Type: vec(Double)})
	outSpecs = append(outSpecs, TensorSpec{Name: "sum", DType: "float64", Shape: []int64{-1}})

	sum := make([]float64, dtypesRows)
	for i := range sum {
		bv := 0.0
		if b[i] {
			bv = 1
		}
		sum[i] = float64(f32[i]) + f64[i] + float64(i32[i]) + float64(i64[i]) + bv
	}
	shape := []int64{dtypesRows}
	exp, err := (&expected{
		model: "dtypes", rtol: 1e-12, atol: 0,
		outputs: []expectedOutput{
			{"f32_out", "float32", shape, f32},
			{"f64_out", "float64", shape, f64},
			{"i32_out", "int32", shape, i32},
			{"i64_out", "int64", shape, i64},
			{"b_out", "bool", shape, b},
			{"s_out", "str", shape, s},
			{"sum", "float64", shape, sum},
		},
	}).file()
	if err != nil {
		return nil, err
	}

	inputs := Object{{"f32", f32}, {"f64", f64}, {"i32", i32}, {"i64", i64}, {"b", b}, {"s", s}}
	mlm := fixtureMLmodel("dtypes", 2)
	mlm.Signature = &Signature{Inputs: TensorsJSON(inSpecs...), Outputs: TensorsJSON(outSpecs...)}
	mlm.InputExample = &InputExampleInfo{Type: "ndarray"}
	return &ModelDir{
		Model:        fixtureModel("echo of every MLflow tensor dtype, plus their float64 sum", g),
		MLmodel:      mlm,
		InputExample: inputs,
		ServingInput: Object{{"inputs", inputs}},
		Extra:        []File{exp},
	}, nil
}
