package signature

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSignature(t *testing.T) {
	tests := []struct {
		name                    string
		inputs, outputs, params string
		summary                 string
	}{
		{
			name:    "every basic column type",
			inputs:  `[{"type": "boolean", "name": "a"}, {"type": "integer", "name": "b"}, {"type": "long", "name": "c"}, {"type": "float", "name": "d"}, {"type": "double", "name": "e"}, {"type": "string", "name": "f", "required": false}, {"type": "binary", "name": "g"}, {"type": "datetime", "name": "h"}]`,
			summary: "inputs: a boolean, b integer, c long, d float, e double, f string (optional), g binary, h datetime -> outputs: none",
		},
		{
			name:    "complex column types",
			inputs:  `[{"type": "array", "items": {"type": "string"}, "name": "addons", "required": false}, {"type": "object", "properties": {"b": {"type": "long", "required": false}, "a": {"type": "array", "items": {"type": "double"}}}, "name": "o"}, {"type": "map", "values": {"type": "double"}, "name": "m"}, {"type": "any", "name": "x"}]`,
			summary: "inputs: addons array<string> (optional), o object{a: array<double>, b: long (optional)}, m map<string, double>, x any -> outputs: none",
		},
		{
			name:    "unnamed columns",
			inputs:  `[{"type": "double", "required": true}, {"type": "double"}]`,
			summary: "inputs: double, double -> outputs: none",
		},
		{
			name:    "tensor dtypes",
			inputs:  `[{"name": "a", "type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 2, 3]}}, {"name": "b", "type": "tensor", "tensor-spec": {"dtype": "int8", "shape": []}}, {"name": "c", "type": "tensor", "tensor-spec": {"dtype": "object", "shape": [-1]}}, {"name": "d", "type": "tensor", "tensor-spec": {"dtype": "bytes", "shape": [-1]}}, {"name": "e", "type": "tensor", "tensor-spec": {"dtype": "bool", "shape": [2]}}, {"name": "f", "type": "tensor", "tensor-spec": {"dtype": "uint64", "shape": [-1]}}]`,
			outputs: `[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]`,
			summary: "inputs: a float64 (-1, 2, 3), b int8 (), c str (-1,), d str (-1,), e bool (2,), f uint64 (-1,) -> outputs: tensor int64 (-1,)",
		},
		{
			name:    "params",
			inputs:  `[{"type": "string"}]`,
			params:  `[{"name": "threshold", "default": 0.5, "shape": null, "type": "double"}, {"name": "top_k_ids", "default": [1, 2], "shape": [-1], "type": "long"}, {"name": "cfg", "default": {"k": 1}, "shape": null, "type": "object", "properties": {"k": {"type": "long"}}}]`,
			summary: `inputs: string -> outputs: none; params: threshold double = 0.5, top_k_ids long[] = [1,2], cfg object{k: long} = {"k":1}`,
		},
		{
			name:    "absent parts",
			inputs:  "null",
			outputs: " ",
			summary: "inputs: none -> outputs: none",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSignature(tt.inputs, tt.outputs, tt.params)
			if err != nil {
				t.Fatalf("ParseSignature: %v", err)
			}
			if got := s.Summary(); got != tt.summary {
				t.Errorf("Summary() = %q;\nwant %q", got, tt.summary)
			}
		})
	}
}

func TestParseSignatureStructure(t *testing.T) {
	s := mustSig(t, `[{"type": "long", "name": "a"}, {"type": "array", "items": {"type": "string"}, "name": "b"}, {"type": "object", "properties": {"z": {"type": "double", "required": false}, "y": {"type": "string"}}, "name": "c", "required": false}]`, "", `[{"name": "k", "default": [1, 2], "shape": [-1], "type": "long"}]`)
	want := &Schema{Columns: []ColSpec{
		{Name: "a", Type: TypeLong, Required: true},
		{Name: "b", Type: TypeArray, Required: true, Items: &ColSpec{Type: TypeString, Required: true}},
		{Name: "c", Type: TypeObject, Required: false, Properties: []Property{
			{Name: "y", Type: &ColSpec{Type: TypeString, Required: true}, Required: true},
			{Name: "z", Type: &ColSpec{Type: TypeDouble, Required: false}, Required: false},
		}},
	}}
	if !reflect.DeepEqual(s.Inputs, want) {
		t.Errorf("Inputs = %+v;\nwant %+v", s.Inputs, want)
	}
	wantParams := []ParamSpec{{Name: "k", Type: TypeLong, Default: []any{1.0, 2.0}, Shape: []int64{-1}}}
	if !reflect.DeepEqual(s.Params, wantParams) {
		t.Errorf("Params = %+v; want %+v", s.Params, wantParams)
	}
	if s.Outputs != nil {
		t.Errorf("Outputs = %+v; want nil", s.Outputs)
	}
}

func TestParseSignatureErrors(t *testing.T) {
	tests := []struct {
		name, inputs, params, want string
	}{
		{"not json", `[{"type": "long"`, "", "signature inputs"},
		{"not a list", `{"type": "long"}`, "", "signature inputs"},
		{"empty", `[]`, "", "signature inputs: the list is empty"},
		{"unknown type", `[{"type": "int", "name": "a"}]`, "", `inputs[0] ("a"): unknown type "int"`},
		{"no type", `[{"name": "a"}]`, "", `inputs[0] ("a"): no "type"`},
		{"type not a string", `[{"name": "a", "type": 3}]`, "", "not a type name"},
		{"spark vector", `[{"name": "a", "type": "sparkml_vector"}]`, "", "sparkml_vector is not supported"},
		{"mixed named", `[{"type": "long", "name": "a"}, {"type": "long"}]`, "", "inputs[1]: entries must be all named or all unnamed"},
		{"mixed kinds", `[{"type": "long", "name": "a"}, {"name": "b", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}]`, "", `inputs[1] ("b"): a schema cannot mix tensor and column specs`},
		{"duplicate name", `[{"type": "long", "name": "a"}, {"type": "double", "name": "a"}]`, "", `inputs[1] ("a"): the name is used twice`},
		{"two unnamed tensors", `[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}, {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}]`, "", "2 unnamed tensors"},
		{"unnamed optional", `[{"type": "double", "required": false}]`, "", "unnamed optional columns are not allowed"},
		{"sized dtype", `[{"name": "s", "type": "tensor", "tensor-spec": {"dtype": "<U10", "shape": [-1]}}]`, "", `sized dtype "<U10"`},
		{"unsupported dtype", `[{"name": "s", "type": "tensor", "tensor-spec": {"dtype": "float16", "shape": [-1]}}]`, "", `unsupported tensor dtype "float16"`},
		{"bad dimension", `[{"name": "s", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-2]}}]`, "", "negative dimension"},
		{"no tensor-spec", `[{"name": "s", "type": "tensor"}]`, "", `no "tensor-spec"`},
		{"array without items", `[{"name": "a", "type": "array"}]`, "", `no "items"`},
		{"map without values", `[{"name": "a", "type": "map"}]`, "", `no "values"`},
		{"object without properties", `[{"name": "a", "type": "object"}]`, "", `no "properties"`},
		{"bad nested type", `[{"name": "a", "type": "array", "items": {"type": "int"}}]`, "", `array items: unknown type "int"`},
		{"trailing data", `[{"type": "long", "name": "a"}] x`, "", "signature inputs"},
		{"param binary", `[{"type": "long", "name": "a"}]`, `[{"name": "p", "type": "binary", "default": null, "shape": null}]`, "binary params are not allowed"},
		{"param shape", `[{"type": "long", "name": "a"}]`, `[{"name": "p", "type": "long", "default": null, "shape": [2]}]`, "shape must be null or [-1]"},
		{"param no name", `[{"type": "long", "name": "a"}]`, `[{"type": "long"}]`, "params[0]: no name"},
		{"param duplicate", `[{"type": "long", "name": "a"}]`, `[{"name": "p", "type": "long"}, {"name": "p", "type": "double"}]`, "used twice"},
		{"param unknown type", `[{"type": "long", "name": "a"}]`, `[{"name": "p", "type": "decimal"}]`, `unsupported param type "decimal"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSignature(tt.inputs, "", tt.params)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseSignature error %v; want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseDType(t *testing.T) {
	for _, name := range []string{"float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"} {
		d, err := ParseDType(name)
		if err != nil || d.String() != name {
			t.Errorf("ParseDType(%q) = %v, %v; want %s", name, d, err, name)
		}
	}
	for _, name := range []string{"str", "object", "bytes"} {
		if d, err := ParseDType(name); err != nil || d != String {
			t.Errorf("ParseDType(%q) = %v, %v; want str", name, d, err)
		}
	}
}

func TestSummaryNil(t *testing.T) {
	var s *Signature
	if got := s.Summary(); got != "no signature" {
		t.Errorf("Summary() = %q; want %q", got, "no signature")
	}
}
