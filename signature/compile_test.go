package signature

import (
	"strings"
	"testing"
)

const (
	colsV1   = `[{"type": "long", "name": "tenure"}, {"type": "double", "name": "monthly_charges"}, {"type": "double", "name": "total_charges"}, {"type": "long", "name": "contract_months"}]`
	tensorV2 = `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]`
)

func gt(name string, d DType, shape ...int64) GraphTensor {
	return GraphTensor{Name: name, DType: d, Shape: shape}
}

func TestCompile(t *testing.T) {
	tests := []struct {
		name      string
		inputs    string // signature inputs; "" for no signature
		graph     []GraphTensor
		batchable bool
		// feeds lists, per field, the graph input it feeds (-1: none) and
		// its offset in a packed input.
		feeds [][2]int
	}{
		{"columns into one input", colsV1, graphV1, true, [][2]int{{0, 0}, {0, 1}, {0, 2}, {0, 3}}},
		{"one column into a 1-D input", `[{"type": "double", "name": "x"}]`, []GraphTensor{gt("in", Float32, -1)}, true, [][2]int{{0, 0}}},
		{"columns matched by name", colsV1 + ``, graphV3[:2:2], true, [][2]int{{0, 0}, {1, 0}, {-1, 0}, {-1, 0}}},
		{"columns into (-1, 1) inputs", `[{"type": "long", "name": "a"}, {"type": "string", "name": "b"}]`, []GraphTensor{gt("b", String, -1, 1), gt("a", Int64, -1, 1)}, true, [][2]int{{1, 0}, {0, 0}}},
		{"unnamed columns", `[{"type": "double"}, {"type": "double"}]`, []GraphTensor{gt("x", Float64, -1, -1)}, true, [][2]int{{0, 0}, {0, 1}}},
		{"unnamed tensor", tensorV2, graphV1, true, [][2]int{{0, 0}}},
		{"named tensors", `[{"name": "tenure", "type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}, {"name": "monthly_charges", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}, {"name": "total_charges", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}, {"name": "contract_months", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}]`, graphV3, true, [][2]int{{0, 0}, {1, 0}, {2, 0}, {3, 0}}},
		{"fixed batch", tensorV2, []GraphTensor{gt("input", Float32, 1, 4)}, false, [][2]int{{0, 0}}},
		{"no signature", "", graphV3, true, [][2]int{{0, 0}, {1, 0}, {2, 0}, {3, 0}}},
		{"no signature, scalar input", "", []GraphTensor{gt("x", Int64)}, false, [][2]int{{0, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sig *Signature
			if tt.inputs != "" {
				sig = mustSig(t, tt.inputs, "", "")
			}
			p := mustPlan(t, sig, tt.graph)
			if got := p.Batchable(); got != tt.batchable {
				t.Errorf("Batchable() = %v; want %v", got, tt.batchable)
			}
			if len(p.fields) != len(tt.feeds) {
				t.Fatalf("%d fields; want %d", len(p.fields), len(tt.feeds))
			}
			for i, f := range p.fields {
				if f.feed != tt.feeds[i][0] || f.offset != tt.feeds[i][1] {
					t.Errorf("field %d (%q) feeds %d at %d; want %d at %d", i, f.name, f.feed, f.offset, tt.feeds[i][0], tt.feeds[i][1])
				}
			}
			if got := p.Inputs(); len(got) != len(tt.graph) || got[0].Name != tt.graph[0].Name {
				t.Errorf("Inputs() = %v; want %v", got, tt.graph)
			}
			if p.Signature() != sig {
				t.Errorf("Signature() = %p; want %p", p.Signature(), sig)
			}
		})
	}
}

func TestCompileDoesNotKeepInputs(t *testing.T) {
	graph := []GraphTensor{gt("input", Float32, -1, 4)}
	p := mustPlan(t, mustSig(t, tensorV2, "", ""), graph)
	graph[0].Shape[1] = 7
	graph[0].Name = "changed"
	if in := p.Inputs()[0]; in.Name != "input" || in.Shape[1] != 4 {
		t.Errorf("Inputs()[0] = %+v after the caller changed its slice; want the original", in)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name   string
		inputs string
		graph  []GraphTensor
		want   string
	}{
		{"no graph inputs", colsV1, nil, "no inputs"},
		{"unsupported graph type", "", []GraphTensor{gt("x", Uint8, -1)}, `graph input "x": element type uint8 is not supported`},
		{"duplicate graph input", "", []GraphTensor{gt("x", Float32, -1), gt("x", Float32, -1)}, `both named "x"`},
		{"too few graph columns", colsV1, []GraphTensor{gt("input", Float32, -1, 3)}, `graph input "input" has shape (-1, 3), 3 values per row, but the signature has 4 columns`},
		{"1-D input for 4 columns", colsV1, []GraphTensor{gt("input", Float32, -1)}, "one value per row, but the signature has 4 columns"},
		{"3-D input for columns", colsV1, []GraphTensor{gt("input", Float32, -1, 4, 1)}, "needs (-1, 4)"},
		{"graph input without column", colsV1, []GraphTensor{gt("tenure", Float32, -1), gt("plan", String, -1)}, `graph input "plan" has no column of that name`},
		{"unnamed columns, several inputs", `[{"type": "double"}, {"type": "double"}]`, graphV3, "columns are unnamed"},
		{"column into a wide input", colsV1, []GraphTensor{gt("tenure", Float32, -1, 2), gt("total_charges", Float32, -1)}, `graph input "tenure" has shape (-1, 2)`},
		{"string column into a float input", `[{"type": "string", "name": "x"}]`, []GraphTensor{gt("x", Float32, -1)}, `column "x" has type string, which cannot feed graph input "x" of element type float32`},
		{"double column into an int input", `[{"type": "double", "name": "x"}]`, []GraphTensor{gt("x", Int64, -1)}, "type double, which cannot feed"},
		{"long column into an int32 input", `[{"type": "long", "name": "x"}]`, []GraphTensor{gt("x", Int32, -1)}, "type long, which cannot feed"},
		{"datetime column fed", `[{"type": "datetime", "name": "x"}]`, []GraphTensor{gt("x", Int64, -1)}, "type datetime, which cannot feed"},
		{"array column fed", `[{"type": "array", "items": {"type": "double"}, "name": "x"}]`, []GraphTensor{gt("x", Float32, -1, 1)}, "type array, which cannot feed"},
		{"unnamed tensor, two inputs", tensorV2, graphV3, "one unnamed input tensor, but the model graph has 4 inputs"},
		{"tensor names no input", `[{"name": "x", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}]`, graphV1, `input tensor "x" names no graph input (graph inputs: "input")`},
		{"input without tensor", `[{"name": "tenure", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}]`, graphV3, `graph input "monthly_charges" has no tensor`},
		{"tensor dtype mismatch", `[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1, 4]}}]`, graphV1, "is int64, but graph input \"input\" takes float32"},
		{"float32 spec, float64 graph", `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]`, []GraphTensor{gt("input", Float64, -1, 4)}, "takes float64"},
		{"tensor rank mismatch", `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}]`, graphV1, "has shape (-1,), but graph input \"input\" has shape (-1, 4)"},
		{"tensor dim mismatch", `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]`, graphV1, "has shape (-1, 3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sig *Signature
			if tt.inputs != "" {
				sig = mustSig(t, tt.inputs, "", "")
			}
			_, err := Compile(sig, tt.graph)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile error %v; want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCompileRecordedModels(t *testing.T) {
	for _, m := range []struct {
		name      string
		version   int
		batchable bool
	}{{"churn-gbm", 1, true}, {"churn-gbm", 2, true}, {"churn-gbm", 3, true}, {"churn-gbm", 4, true}, {"churn-sk", 1, true}} {
		p := recordedPlan(t, m.name, m.version)
		if p.Batchable() != m.batchable {
			t.Errorf("%s v%d: Batchable() = %v; want %v", m.name, m.version, p.Batchable(), m.batchable)
		}
	}
}
