package infer

import (
	"context"
	"strings"
	"testing"

	"github.com/mlgate/mlgate/internal/onnxgen"
)

// TestOutputsThatAreNotRecords loads a model whose outputs cannot be
// written one record per row under its column-based signature (a per-row
// label beside a total over the whole request): Load fails at warm-up with a reason naming
// both outputs, which is what /admin/models then shows.
func TestOutputsThatAreNotRecords(t *testing.T) {
	n := onnxgen.Dynamic("N")
	g := onnxgen.Graph{
		Name: "total",
		Nodes: []onnxgen.Node{
			{Name: "argmax", OpType: "ArgMax", Inputs: []string{"input"}, Outputs: []string{"label"},
				Attrs: []onnxgen.Attribute{onnxgen.IntAttr("axis", 1), onnxgen.IntAttr("keepdims", 0)}},
			{Name: "sum", OpType: "ReduceSum", Inputs: []string{"input", "axes"}, Outputs: []string{"total"},
				Attrs: []onnxgen.Attribute{onnxgen.IntAttr("keepdims", 1)}},
		},
		Initializers: []onnxgen.Tensor{onnxgen.Int64s("axes", []int64{2}, []int64{0, 1})},
		Inputs:       []onnxgen.ValueInfo{{Name: "input", Type: onnxgen.TensorType(onnxgen.Float, n, onnxgen.Fixed(3))}},
		Outputs: []onnxgen.ValueInfo{
			{Name: "label", Type: onnxgen.TensorType(onnxgen.Int64, n)},
			{Name: "total", Type: onnxgen.TensorType(onnxgen.Float, onnxgen.Fixed(1), onnxgen.Fixed(1))},
		},
	}
	frame := onnxgen.Object{{Key: "columns", Value: []string{"x0", "x1", "x2"}}, {Key: "data", Value: [][]float64{{1, 2, 3}, {3, 2, 1}}}}
	d := onnxgen.ModelDir{
		Model: &onnxgen.Model{ProducerName: "mlgate-test", Graph: g, Opsets: onnxgen.DefaultOpsets()},
		MLmodel: onnxgen.MLmodel{RunID: "0123456789abcdef0123456789abcdef",
			Signature: &onnxgen.Signature{Inputs: onnxgen.ColumnsJSON(
				onnxgen.ColSpec{Name: "x0", Type: "double"}, onnxgen.ColSpec{Name: "x1", Type: "double"}, onnxgen.ColSpec{Name: "x2", Type: "double"})},
			InputExample: &onnxgen.InputExampleInfo{Type: "dataframe", PandasOrient: "split"}},
		InputExample: frame,
		ServingInput: onnxgen.Object{{Key: "dataframe_split", Value: frame}},
	}
	files, err := d.Files()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := onnxgen.WriteDir(dir, files); err != nil {
		t.Fatal(err)
	}
	m, err := Load(context.Background(), dir, Config{})
	if err == nil {
		m.Release()
		t.Fatal("Load succeeded; want the warm-up to refuse outputs that are not records")
	}
	for _, want := range []string{`output "label" has shape (2,) and output "total" shape (1, 1)`, "one record per row"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Load: %v; want it to say %q", err, want)
		}
	}
}
