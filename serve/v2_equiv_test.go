package serve

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/signature"
)

// testdataModels are every model in testdata: the recorded churn-gbm
// versions and the generated fixtures.
func testdataModels(t *testing.T) map[string]string {
	dirs := map[string]string{}
	for v := 1; v <= 4; v++ {
		dirs["churn-gbm-v"+strconv.Itoa(v)] = testutil.RecordedModel(t, "churn-gbm", v)
	}
	for _, name := range []string{"mlp256", "zipmap", "dtypes", "fixed1", "nosig"} {
		dirs[name] = testutil.Path(t, "testdata", "models", name)
	}
	return dirs
}

// v2Input is one input tensor of a request built from an MLflow example.
type v2Input struct {
	Name     string  `json:"name"`
	Shape    []int64 `json:"shape"`
	Datatype string  `json:"datatype"`
	Data     []any   `json:"data,omitempty"`
	// Parameters holds binary_data_size when the data is binary.
	Parameters map[string]any `json:"parameters,omitempty"`
}

// v2FromExample turns a model's serving_input_example.json into the
// tensors of an inference request: a dataframe_split's columns one tensor
// each, an "inputs" list the model's one tensor, an "inputs" object one
// tensor per name, with the datatypes and shapes the model metadata gives.
func v2FromExample(t *testing.T, example []byte, meta []signature.TensorMetadata) []v2Input {
	t.Helper()
	byName := map[string]signature.TensorMetadata{}
	for _, m := range meta {
		byName[m.Name] = m
	}
	dec := json.NewDecoder(bytes.NewReader(example))
	dec.UseNumber()
	var ex struct {
		Split *struct {
			Columns []string
			Data    [][]any
		} `json:"dataframe_split"`
		Inputs any
	}
	if err := dec.Decode(&ex); err != nil {
		t.Fatal(err)
	}
	var ins []v2Input
	switch in := ex.Inputs.(type) {
	case nil:
		for c, name := range ex.Split.Columns {
			m := byName[name]
			shape := []int64{int64(len(ex.Split.Data))}
			if len(m.Shape) == 2 {
				shape = append(shape, 1)
			}
			var data []any
			for _, row := range ex.Split.Data {
				data = append(data, row[c])
			}
			ins = append(ins, v2Input{Name: name, Shape: shape, Datatype: m.Datatype, Data: data})
		}
	case []any:
		ins = append(ins, v2Input{Name: meta[0].Name, Shape: nestedShape(in), Datatype: meta[0].Datatype, Data: in})
	case map[string]any:
		for _, m := range meta {
			v := in[m.Name].([]any)
			ins = append(ins, v2Input{Name: m.Name, Shape: nestedShape(v), Datatype: m.Datatype, Data: v})
		}
	}
	return ins
}

func nestedShape(v []any) []int64 {
	shape := []int64{int64(len(v))}
	if len(v) > 0 {
		if inner, ok := v[0].([]any); ok {
			shape = append(shape, nestedShape(inner)...)
		}
	}
	return shape
}

// asBinary moves every input's data into binary data, returning the body
// and the length of its JSON part.
func asBinary(t *testing.T, ins []v2Input) ([]byte, int) {
	t.Helper()
	var tail []byte
	bin := make([]v2Input, len(ins))
	for i, in := range ins {
		start := len(tail)
		for _, v := range flattenAny(in.Data) {
			tail = appendBinaryValue(t, tail, in.Datatype, v)
		}
		bin[i] = v2Input{Name: in.Name, Shape: in.Shape, Datatype: in.Datatype,
			Parameters: map[string]any{"binary_data_size": len(tail) - start}}
	}
	header, _ := json.Marshal(map[string]any{"inputs": bin, "parameters": map[string]any{"binary_data_output": true}})
	return append(header, tail...), len(header)
}

func flattenAny(v []any) []any {
	var out []any
	for _, e := range v {
		if inner, ok := e.([]any); ok {
			out = append(out, flattenAny(inner)...)
		} else {
			out = append(out, e)
		}
	}
	return out
}

func appendBinaryValue(t *testing.T, dst []byte, datatype string, v any) []byte {
	t.Helper()
	switch datatype {
	case "FP32":
		x, _ := v.(json.Number).Float64()
		return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(x)))
	case "FP64":
		x, _ := v.(json.Number).Float64()
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
	case "INT32":
		n, _ := v.(json.Number).Int64()
		return binary.LittleEndian.AppendUint32(dst, uint32(int32(n)))
	case "INT64":
		n, err := v.(json.Number).Int64()
		if err != nil {
			x, _ := v.(json.Number).Float64()
			n = int64(x)
		}
		return binary.LittleEndian.AppendUint64(dst, uint64(n))
	case "BOOL":
		if v.(bool) {
			return append(dst, 1)
		}
		return append(dst, 0)
	case "BYTES":
		s := v.(string)
		return append(binary.LittleEndian.AppendUint32(dst, uint32(len(s))), s...)
	}
	t.Fatalf("no binary layout for %s", datatype)
	return nil
}

// inferOutputs flattens an inference response's outputs, JSON or binary,
// into one list of values per output as flattenPredictions does for
// MLflow's: numbers as json.Number, a BYTES element holding a JSON object
// (a sequence-of-maps row) as its values by sorted key.
func inferOutputs(t *testing.T, body []byte, headerLen int) map[string][]any {
	t.Helper()
	js, tail := body, []byte(nil)
	if headerLen >= 0 {
		js, tail = body[:headerLen], body[headerLen:]
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var resp struct {
		Outputs []struct {
			Name       string
			Datatype   string
			Shape      []int64
			Data       []any
			Parameters map[string]json.Number
		}
	}
	if err := dec.Decode(&resp); err != nil {
		t.Fatalf("response: %v\n%s", err, js)
	}
	out := map[string][]any{}
	for _, o := range resp.Outputs {
		data := o.Data
		if size, ok := o.Parameters["binary_data_size"]; ok {
			n, _ := size.Int64()
			data = decodeBinary(t, o.Datatype, tail[:n])
			tail = tail[n:]
		}
		for _, v := range data {
			if s, ok := v.(string); ok && len(s) > 0 && s[0] == '{' {
				d := json.NewDecoder(bytes.NewReader([]byte(s)))
				d.UseNumber()
				var m map[string]any
				if err := d.Decode(&m); err != nil {
					t.Fatalf("output %s: %v", o.Name, err)
				}
				keys := make([]string, 0, len(m))
				for k := range m {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					out[o.Name] = append(out[o.Name], m[k])
				}
				continue
			}
			out[o.Name] = append(out[o.Name], v)
		}
	}
	return out
}

func decodeBinary(t *testing.T, datatype string, b []byte) []any {
	t.Helper()
	var out []any
	num := func(s string) { out = append(out, json.Number(s)) }
	for len(b) > 0 {
		switch datatype {
		case "FP32":
			num(strconv.FormatFloat(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), 'g', -1, 32))
			b = b[4:]
		case "FP64":
			num(strconv.FormatFloat(math.Float64frombits(binary.LittleEndian.Uint64(b)), 'g', -1, 64))
			b = b[8:]
		case "INT32":
			num(strconv.Itoa(int(int32(binary.LittleEndian.Uint32(b)))))
			b = b[4:]
		case "INT64":
			num(strconv.FormatInt(int64(binary.LittleEndian.Uint64(b)), 10))
			b = b[8:]
		case "BOOL":
			out = append(out, b[0] != 0)
			b = b[1:]
		case "BYTES":
			n := binary.LittleEndian.Uint32(b)
			out = append(out, string(b[4:4+n]))
			b = b[4+n:]
		default:
			t.Fatalf("no binary layout for %s", datatype)
		}
	}
	return out
}

// sameValues compares two flattened outputs: numbers within 1e-6
// (relative to their size when larger than 1), everything else exactly.
func sameValues(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, xn := a[i].(json.Number)
		y, yn := b[i].(json.Number)
		if xn && yn {
			fx, _ := x.Float64()
			fy, _ := y.Float64()
			if math.Abs(fx-fy) > 1e-6*math.Max(1, math.Abs(fx)) {
				return false
			}
			if _, err := x.Int64(); err == nil && !isFloatText(x) {
				if _, err := y.Int64(); err == nil && x.String() != y.String() {
					return false // integers exactly (int64 beyond 2^53)
				}
			}
			continue
		}
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestInferMatchesInvocations sends each model in testdata its MLflow
// serving example on /invocations and the same data as an inference
// request, as JSON and as binary data, and requires the same answers:
// every output of /invocations, value for value, to 1e-6.
func TestInferMatchesInvocations(t *testing.T) {
	for name, dir := range testdataModels(t) {
		t.Run(name, func(t *testing.T) {
			m := loadModel(t, dir)
			s, err := New(Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			uri := "models:/" + name + "/1"
			publish(t, s, []RouteSpec{{Name: "m", Targets: []TargetSpec{{URI: uri}}}},
				map[string]Deployment{uri: {Model: m, Provenance: Provenance{Name: name, Version: "1"}}})
			example, err := os.ReadFile(filepath.Join(dir, "serving_input_example.json"))
			if err != nil {
				t.Fatal(err)
			}
			call := func(path string, header map[string]string, body []byte) ([]byte, int) {
				var ctx fasthttp.RequestCtx
				ctx.Request.Header.SetMethod("POST")
				ctx.Request.SetRequestURI(path)
				ctx.Request.Header.SetContentType("application/json")
				for k, v := range header {
					ctx.Request.Header.Set(k, v)
				}
				ctx.Request.SetBody(body)
				s.Handler(&ctx)
				if ctx.Response.StatusCode() != 200 {
					t.Fatalf("POST %s: %d %s\nrequest: %.500s", path, ctx.Response.StatusCode(), ctx.Response.Body(), body)
				}
				if v := string(ctx.Response.Header.Peek(HeaderModelVersion)); v != "1" {
					t.Errorf("POST %s: %s %q; want 1", path, HeaderModelVersion, v)
				}
				hl := -1
				if h := ctx.Response.Header.Peek(HeaderInferHeaderLength); len(h) > 0 {
					hl, _ = strconv.Atoi(string(h))
				}
				return append([]byte(nil), ctx.Response.Body()...), hl
			}
			mlflow, _ := call("/invocations", nil, example)
			want, err := flattenPredictions(mlflow)
			if err != nil {
				t.Fatal(err)
			}
			ins := v2FromExample(t, example, m.Plan().InferInputs())
			jsonBody, _ := json.Marshal(map[string]any{"inputs": ins})
			binBody, hl := asBinary(t, ins)
			jsonResp, jsonHL := call("/v2/models/m/infer", nil, jsonBody)
			binResp, binHL := call("/v2/models/m/infer", map[string]string{HeaderInferHeaderLength: strconv.Itoa(hl)}, binBody)
			if binHL < 0 {
				t.Errorf("binary_data_output: no %s in the response", HeaderInferHeaderLength)
			}
			for how, got := range map[string]map[string][]any{
				"JSON":   inferOutputs(t, jsonResp, jsonHL),
				"binary": inferOutputs(t, binResp, binHL),
			} {
				if len(want) == 0 {
					t.Fatal("/invocations answered no outputs")
				}
				for out, w := range want {
					if !sameValues(got[out], w) {
						t.Errorf("%s: output %q = %v; /invocations answered %v", how, out, got[out], w)
					}
				}
			}
		})
	}
}
