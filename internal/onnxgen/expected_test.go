package onnxgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"
)

// TestFixtureExpectedOutputs runs each fixture's model.onnx, read back from
// its files, through the test interpreter on serving_input_example.json and
// compares with expected.json.
func TestFixtureExpectedOutputs(t *testing.T) {
	all := fixtureFiles(t)
	for _, spec := range fixtureSpecs() {
		t.Run(spec.name, func(t *testing.T) {
			f := all[spec.name]
			dir := t.TempDir()
			if err := WriteDir(dir, f.Files); err != nil {
				t.Fatal(err)
			}
			m, err := decodeModel(fileOf(f, ModelFile))
			if err != nil {
				t.Fatal(err)
			}
			inputs, err := requestInputs(m, fileOf(f, ServingInputExampleFile))
			if err != nil {
				t.Fatalf("serving example: %v", err)
			}
			got, err := run(m, dir, inputs)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			var exp struct {
				Rtol    float64 `json:"rtol"`
				Atol    float64 `json:"atol"`
				Outputs map[string]struct {
					DType string          `json:"dtype"`
					Shape []int64         `json:"shape"`
					Data  json.RawMessage `json:"data"`
				} `json:"outputs"`
			}
			if err := decodeJSON(fileOf(f, expectedFileName), &exp); err != nil {
				t.Fatalf("expected.json: %v", err)
			}
			if len(exp.Outputs) != len(m.Graph.Outputs) {
				t.Errorf("expected.json has %d outputs; graph has %d", len(exp.Outputs), len(m.Graph.Outputs))
			}
			for _, o := range m.Graph.Outputs {
				e, ok := exp.Outputs[o.Name]
				if !ok {
					t.Errorf("expected.json lacks output %s", o.Name)
					continue
				}
				v := got[o.Name]
				if !slices.Equal(v.shape, e.Shape) {
					t.Errorf("%s shape = %v; expected.json says %v", o.Name, v.shape, e.Shape)
				}
				want, err := expectedLeaves(e.Data, v.isSeq)
				if err != nil {
					t.Fatalf("%s: %v", o.Name, err)
				}
				gotLeaves := v.leaves()
				if len(gotLeaves) != len(want) {
					t.Fatalf("%s: %d values; expected.json has %d", o.Name, len(gotLeaves), len(want))
				}
				for i := range want {
					if !leafEqual(gotLeaves[i], want[i]) {
						t.Errorf("%s[%d] = %v; expected.json says %v", o.Name, i, gotLeaves[i], want[i])
					}
				}
			}
		})
	}
}

func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

// leaves flattens an interpreter value to comparable leaves: float64 for
// floating tensors and map values, strings for int64, bool and strings.
func (v *ivalue) leaves() []any {
	var out []any
	switch {
	case v.isSeq:
		for _, m := range v.maps {
			ks := make([]int64, 0, len(m))
			for k := range m {
				ks = append(ks, k)
			}
			slices.Sort(ks)
			for _, k := range ks {
				out = append(out, strconv.FormatInt(k, 10), m[k])
			}
		}
	case v.elem == String:
		for _, s := range v.str {
			out = append(out, s)
		}
	case v.elem == Int64:
		for _, x := range v.i64 {
			out = append(out, strconv.FormatInt(x, 10))
		}
	case v.elem == Int32:
		for _, x := range v.num {
			out = append(out, strconv.FormatInt(int64(x), 10))
		}
	case v.elem == Bool:
		for _, x := range v.num {
			out = append(out, strconv.FormatBool(x != 0))
		}
	default:
		for _, x := range v.num {
			out = append(out, x)
		}
	}
	return out
}

// expectedLeaves flattens expected.json data the same way.
func expectedLeaves(raw json.RawMessage, seq bool) ([]any, error) {
	var v any
	if err := decodeJSON(raw, &v); err != nil {
		return nil, err
	}
	var out []any
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		case map[string]any:
			ks := keys(x)
			slices.SortFunc(ks, func(a, b string) int {
				ai, _ := strconv.ParseInt(a, 10, 64)
				bi, _ := strconv.ParseInt(b, 10, 64)
				return int(ai - bi)
			})
			for _, k := range ks {
				out = append(out, k)
				if err := walk(x[k]); err != nil {
					return err
				}
			}
		case json.Number:
			if _, err := strconv.ParseInt(string(x), 10, 64); err == nil && !seq {
				out = append(out, string(x))
				return nil
			}
			f, err := x.Float64()
			if err != nil {
				return err
			}
			out = append(out, f)
		case bool:
			out = append(out, strconv.FormatBool(x))
		case string:
			out = append(out, x)
		default:
			return fmt.Errorf("unexpected %T in data", v)
		}
		return nil
	}
	return out, walk(v)
}

// leafEqual compares floats within 1e-12 relative (the interpreter and the
// generator's reference may sum in different orders) and everything else
// exactly.
func leafEqual(got, want any) bool {
	g, gok := got.(float64)
	w, wok := want.(float64)
	if gok && wok {
		return math.Abs(g-w) <= 1e-12*math.Max(1, math.Abs(w))
	}
	return got == want
}

// requestInputs decodes a serving example into interpreter inputs typed by
// the graph, as a gateway would: JSON numbers to the input's element type
// (float32 inputs rounded to float32), dataframe_split rows to one matrix.
func requestInputs(m *Model, body []byte) (map[string]*ivalue, error) {
	var req map[string]any
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	ins := m.Graph.Inputs
	out := make(map[string]*ivalue)
	switch {
	case req["dataframe_split"] != nil:
		df, _ := req["dataframe_split"].(map[string]any)
		v, err := jsonTensor(df["data"], ins[0].Type.Elem)
		if err != nil {
			return nil, err
		}
		out[ins[0].Name] = v
	case req["inputs"] != nil:
		if named, ok := req["inputs"].(map[string]any); ok {
			for _, in := range ins {
				v, err := jsonTensor(named[in.Name], in.Type.Elem)
				if err != nil {
					return nil, fmt.Errorf("input %s: %w", in.Name, err)
				}
				out[in.Name] = v
			}
		} else {
			v, err := jsonTensor(req["inputs"], ins[0].Type.Elem)
			if err != nil {
				return nil, err
			}
			out[ins[0].Name] = v
		}
	default:
		return nil, fmt.Errorf("no inputs or dataframe_split key")
	}
	return out, nil
}

func jsonTensor(data any, elem DataType) (*ivalue, error) {
	v := &ivalue{elem: elem}
	var walk func(x any, depth int) error
	walk = func(x any, depth int) error {
		if list, ok := x.([]any); ok {
			if len(v.shape) == depth {
				v.shape = append(v.shape, int64(len(list)))
			}
			for _, e := range list {
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		switch elem {
		case String:
			s, ok := x.(string)
			if !ok {
				return fmt.Errorf("%v is not a string", x)
			}
			v.str = append(v.str, s)
		case Bool:
			b, ok := x.(bool)
			if !ok {
				return fmt.Errorf("%v is not a bool", x)
			}
			v.num = append(v.num, map[bool]float64{false: 0, true: 1}[b])
		case Int32, Int64:
			i, err := strconv.ParseInt(string(x.(json.Number)), 10, 64)
			if err != nil {
				return err
			}
			v.i64 = append(v.i64, i)
			v.num = append(v.num, float64(i))
		default:
			f, err := x.(json.Number).Float64()
			if err != nil {
				return err
			}
			if elem == Float {
				f = float64(float32(f))
			}
			v.num = append(v.num, f)
		}
		return nil
	}
	return v, walk(data, 0)
}
