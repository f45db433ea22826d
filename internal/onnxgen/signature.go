package onnxgen

// ColSpec is one column of a column-based MLflow signature
// (mlflow.types.ColSpec).
type ColSpec struct {
	// Name is the column name; empty for an unnamed schema.
	Name string
	// Type is the MLflow type name: boolean, integer, long, float, double,
	// string, binary, datetime, or array (with Items).
	Type string
	// Items is the element type of an array column (float, long, ...).
	Items string
	// Optional writes "required": false; the zero value is a required
	// column, MLflow's default.
	Optional bool
}

// TensorSpec is one tensor of a tensor-based MLflow signature
// (mlflow.types.TensorSpec).
type TensorSpec struct {
	// Name is the tensor name; empty for an unnamed schema.
	Name string
	// DType is the numpy dtype name: float32, float64, int32, int64, bool,
	// str, ...
	DType string
	// Shape holds the dimensions; -1 marks a variable one.
	Shape []int64
}

// ColumnsJSON returns a column-based schema as MLflow writes it into MLmodel
// (json.dumps of Schema.to_dict):
// [{"type": "long", "name": "x", "required": true}, ...].
func ColumnsJSON(cols ...ColSpec) string {
	list := make([]any, len(cols))
	for i, c := range cols {
		o := Object{{"type", c.Type}}
		if c.Items != "" {
			o = append(o, Member{"items", Object{{"type", c.Items}}})
		}
		if c.Name != "" {
			o = append(o, Member{"name", c.Name})
		}
		list[i] = append(o, Member{"required", !c.Optional})
	}
	return mustPythonJSON(list)
}

// TensorsJSON returns a tensor-based schema as MLflow writes it into MLmodel:
// [{"name": "x", "type": "tensor", "tensor-spec": {"dtype": "float32",
// "shape": [-1, 4]}}, ...].
func TensorsJSON(specs ...TensorSpec) string {
	list := make([]any, len(specs))
	for i, s := range specs {
		var o Object
		if s.Name != "" {
			o = append(o, Member{"name", s.Name})
		}
		shape := s.Shape
		if shape == nil {
			shape = []int64{}
		}
		list[i] = append(o,
			Member{"type", "tensor"},
			Member{"tensor-spec", Object{{"dtype", s.DType}, {"shape", shape}}},
		)
	}
	return mustPythonJSON(list)
}

// mustPythonJSON encodes values built only from supported types.
func mustPythonJSON(v any) string {
	b, err := PythonJSON(v)
	if err != nil {
		panic("onnxgen: " + err.Error())
	}
	return string(b)
}
