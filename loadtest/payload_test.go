package loadtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/mlgate/mlgate/signature"
)

// Hand-built signatures mirroring testdata/mlflow-real/models/churn-gbm.
var (
	churnColumns = []string{"tenure", "monthly_charges", "total_charges", "contract_months"}

	// v1: column-based, tenure long, monthly_charges double, total_charges
	// double, contract_months long -> probability float.
	churnV1 = &signature.Signature{
		Inputs: &signature.Schema{Columns: []signature.ColSpec{
			{Name: "tenure", Type: signature.TypeLong, Required: true},
			{Name: "monthly_charges", Type: signature.TypeDouble, Required: true},
			{Name: "total_charges", Type: signature.TypeDouble, Required: true},
			{Name: "contract_months", Type: signature.TypeLong, Required: true},
		}},
		Outputs: &signature.Schema{Columns: []signature.ColSpec{{Name: "probability", Type: signature.TypeFloat, Required: true}}},
	}
	// v2: one unnamed float32 tensor (-1, 4) -> probability float32 (-1, 1).
	churnV2 = &signature.Signature{
		Inputs:  &signature.Schema{Tensors: []signature.TensorSpec{{DType: signature.Float32, Shape: []int64{-1, 4}}}},
		Outputs: &signature.Schema{Tensors: []signature.TensorSpec{{Name: "probability", DType: signature.Float32, Shape: []int64{-1, 1}}}},
	}
	// v3 and v4: four named float32 tensors (-1).
	churnV3 = &signature.Signature{
		Inputs: &signature.Schema{Tensors: []signature.TensorSpec{
			{Name: "tenure", DType: signature.Float32, Shape: []int64{-1}},
			{Name: "monthly_charges", DType: signature.Float32, Shape: []int64{-1}},
			{Name: "total_charges", DType: signature.Float32, Shape: []int64{-1}},
			{Name: "contract_months", DType: signature.Float32, Shape: []int64{-1}},
		}},
	}
)

// decodeBody decodes a generated body keeping numbers as written.
func decodeBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("body is not valid JSON: %s", b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if len(m) != 1 {
		t.Fatalf("body has keys %v; want exactly one format key", m)
	}
	return m
}

func isInteger(v any) bool {
	n, ok := v.(json.Number)
	return ok && !strings.ContainsAny(string(n), ".eE")
}

func isFloat(v any) bool {
	n, ok := v.(json.Number)
	return ok && strings.Contains(string(n), ".")
}

func TestGenerateDataframeSplitFromColumnSignature(t *testing.T) {
	for _, rows := range []int{1, 3, 16} {
		p, err := GeneratePayload(churnV1, GenerateOptions{Rows: rows, Distinct: 4, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Bodies) != 4 || p.ContentType != ContentTypeJSON {
			t.Fatalf("got %d bodies of %q; want 4 of %q", len(p.Bodies), p.ContentType, ContentTypeJSON)
		}
		for _, b := range p.Bodies {
			split, ok := decodeBody(t, b)["dataframe_split"].(map[string]any)
			if !ok {
				t.Fatalf("no dataframe_split object in %s", b)
			}
			cols, _ := split["columns"].([]any)
			if got := toStrings(cols); !reflect.DeepEqual(got, churnColumns) {
				t.Errorf("columns %v; want %v", got, churnColumns)
			}
			data, _ := split["data"].([]any)
			if len(data) != rows {
				t.Fatalf("got %d rows; want %d in %s", len(data), rows, b)
			}
			for _, r := range data {
				row, _ := r.([]any)
				if len(row) != 4 || !isInteger(row[0]) || !isFloat(row[1]) || !isFloat(row[2]) || !isInteger(row[3]) {
					t.Errorf("row %v; want long, double, double, long", row)
				}
			}
		}
		if bytes.Equal(p.Bodies[0], p.Bodies[1]) && bytes.Equal(p.Bodies[1], p.Bodies[2]) {
			t.Errorf("distinct bodies are identical: %s", p.Bodies[0])
		}
	}
}

func TestGenerateInputsFromTensorSignatures(t *testing.T) {
	const rows = 5
	p, err := GeneratePayload(churnV2, GenerateOptions{Rows: rows, Distinct: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range p.Bodies {
		list, ok := decodeBody(t, b)["inputs"].([]any)
		if !ok || len(list) != rows {
			t.Fatalf("inputs %s; want a list of %d rows", b, rows)
		}
		for _, r := range list {
			if row, _ := r.([]any); len(row) != 4 || !isFloat(row[0]) || !isFloat(row[3]) {
				t.Errorf("row %v; want 4 floats", r)
			}
		}
	}

	p, err = GeneratePayload(churnV3, GenerateOptions{Rows: rows, Distinct: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range p.Bodies {
		named, ok := decodeBody(t, b)["inputs"].(map[string]any)
		if !ok || len(named) != 4 {
			t.Fatalf("inputs %s; want an object of 4 tensors", b)
		}
		for _, c := range churnColumns {
			if col, _ := named[c].([]any); len(col) != rows || !isFloat(col[0]) {
				t.Errorf("tensor %q = %v; want %d floats", c, named[c], rows)
			}
		}
	}
}

func TestGeneratePayloadShapesAndTypes(t *testing.T) {
	tests := []struct {
		name string
		sig  *signature.Signature
		rows int
		want string // the body with every number replaced by N and string by S
	}{
		{"fixed and inner -1 dims", &signature.Signature{Inputs: &signature.Schema{Tensors: []signature.TensorSpec{
			{Name: "a", DType: signature.Int64, Shape: []int64{2, -1}},
			{Name: "b", DType: signature.Bool, Shape: []int64{-1}},
			{Name: "c", DType: signature.String, Shape: []int64{}},
		}}}, 3, `{"inputs": {"a": [[N], [N]], "b": [B, B, B], "c": S}}`},
		{"unnamed columns", &signature.Signature{Inputs: &signature.Schema{Columns: []signature.ColSpec{
			{Type: signature.TypeDouble}, {Type: signature.TypeBoolean},
		}}}, 2, `{"dataframe_split": {"data": [[N, B], [N, B]]}}`},
		{"complex columns", &signature.Signature{Inputs: &signature.Schema{Columns: []signature.ColSpec{
			{Name: "plan", Type: signature.TypeString},
			{Name: "when", Type: signature.TypeDatetime},
			{Name: "raw", Type: signature.TypeBinary},
			{Name: "tags", Type: signature.TypeMap, Values: &signature.ColSpec{Type: signature.TypeInteger}},
			{Name: "obj", Type: signature.TypeObject, Properties: []signature.Property{{Name: "x", Type: &signature.ColSpec{Type: signature.TypeFloat}}}},
		}}}, 1, `{"dataframe_split": {"columns": [S, S, S, S, S], "data": [[S, S, S, {S: N, S: N}, {"x": N}]]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := GeneratePayload(tt.sig, GenerateOptions{Rows: tt.rows, Distinct: 1})
			if err != nil {
				t.Fatal(err)
			}
			if got := shapeOf(t, p.Bodies[0]); got != tt.want {
				t.Errorf("got %s\n(body %s)\nwant %s", got, p.Bodies[0], tt.want)
			}
		})
	}
}

// shapeOf replaces numbers by N, strings by S and booleans by B.
func shapeOf(t *testing.T, b []byte) string {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("invalid JSON %s", b)
	}
	var out strings.Builder
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	// Re-tokenize, keeping the structure and the separators generated
	// bodies use.
	type frame struct {
		obj   bool
		count int
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			out.WriteRune(rune(d))
			continue
		}
		if n := len(stack); n > 0 {
			f := &stack[n-1]
			switch {
			case f.obj && f.count%2 == 1:
				out.WriteString(": ")
			case f.count > 0:
				out.WriteString(", ")
			}
			f.count++
		}
		switch v := tok.(type) {
		case json.Delim:
			out.WriteRune(rune(v))
			stack = append(stack, frame{obj: v == '{'})
		case json.Number:
			out.WriteString("N")
		case bool:
			out.WriteString("B")
		case string:
			if f := stack[len(stack)-1]; f.obj && f.count%2 == 1 && (v == "inputs" || v == "dataframe_split" || v == "columns" || v == "data" || len(v) == 1) {
				out.WriteString(`"` + v + `"`)
			} else {
				out.WriteString("S")
			}
		}
	}
	return out.String()
}

func TestGeneratePayloadErrors(t *testing.T) {
	tests := []struct {
		name string
		sig  *signature.Signature
		opt  GenerateOptions
	}{
		{"nil signature", nil, GenerateOptions{}},
		{"no inputs", &signature.Signature{Inputs: &signature.Schema{}}, GenerateOptions{}},
		{"two unnamed tensors", &signature.Signature{Inputs: &signature.Schema{Tensors: []signature.TensorSpec{
			{DType: signature.Float32, Shape: []int64{-1}}, {DType: signature.Float32, Shape: []int64{-1}}}}}, GenerateOptions{}},
		{"invalid dtype", &signature.Signature{Inputs: &signature.Schema{Tensors: []signature.TensorSpec{{Name: "x", Shape: []int64{-1}}}}}, GenerateOptions{}},
		{"huge shape", &signature.Signature{Inputs: &signature.Schema{Tensors: []signature.TensorSpec{
			{Name: "x", DType: signature.Float32, Shape: []int64{-1, 1 << 20, 1 << 20}}}}}, GenerateOptions{}},
		{"array without items", &signature.Signature{Inputs: &signature.Schema{Columns: []signature.ColSpec{{Name: "a", Type: signature.TypeArray}}}}, GenerateOptions{}},
		{"invalid column type", &signature.Signature{Inputs: &signature.Schema{Columns: []signature.ColSpec{{Name: "a"}}}}, GenerateOptions{}},
		{"negative rows", churnV1, GenerateOptions{Rows: -1}},
	}
	for _, tt := range tests {
		if p, err := GeneratePayload(tt.sig, tt.opt); err == nil {
			t.Errorf("%s: got %d bodies; want an error", tt.name, len(p.Bodies))
		}
	}
}

func TestGeneratePayloadIsDeterministic(t *testing.T) {
	a, err := GeneratePayload(churnV1, GenerateOptions{Rows: 4, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GeneratePayload(churnV1, GenerateOptions{Rows: 4, Seed: 42})
	c, _ := GeneratePayload(churnV1, GenerateOptions{Rows: 4, Seed: 43})
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave different bodies")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds gave the same bodies")
	}
	if len(a.Bodies) != 8 {
		t.Errorf("got %d bodies; want the default 8", len(a.Bodies))
	}
}

func TestExamplePayloadIsSentByteForByte(t *testing.T) {
	checkLeaks(t)
	for _, name := range []string{"churn-gbm-v1-serving_input_example.json", "churn-gbm-v2-serving_input_example.json"} {
		t.Run(name, func(t *testing.T) {
			path := testdataPath(t, name)
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var got [][]byte
			var types []string
			url := startServer(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = append(got, b)
				types = append(types, r.Header.Get("Content-Type"))
				mu.Unlock()
				predictions(w, provenance{version: "1"})
			})
			p, err := ExamplePayload(path)
			if err != nil {
				t.Fatal(err)
			}
			mustRun(t, Config{URL: url, Connections: 2, Requests: 6, Payload: p, IdleConnTimeout: testIdle})
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 6 {
				t.Fatalf("server got %d requests; want 6", len(got))
			}
			for i := range got {
				if !bytes.Equal(got[i], want) {
					t.Errorf("request %d body differs from %s:\n%s", i, path, got[i])
				}
				if types[i] != ContentTypeJSON {
					t.Errorf("request %d Content-Type %q; want %q", i, types[i], ContentTypeJSON)
				}
			}
		})
	}
}

func TestExamplePayloadRejectsNonJSON(t *testing.T) {
	if _, err := ExamplePayload(testdataPath(t, "churn-gbm-batch.csv")); err == nil {
		t.Error("ExamplePayload accepted a CSV file; want an error")
	}
	if _, err := ExamplePayload("testdata/does-not-exist.json"); err == nil {
		t.Error("ExamplePayload accepted a missing file; want an error")
	}
}

func toStrings(v []any) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i], _ = s.(string)
	}
	return out
}

// The hand-built signatures above must be what MLflow's MLmodel files
// declare; testdata/churn-gbm-v{1,2}/MLmodel are copies of the recorded
// models.
func TestSignatureFromMLmodelMatchesFixtures(t *testing.T) {
	for _, tt := range []struct {
		path string
		want *signature.Signature
	}{
		{"testdata/churn-gbm-v1", churnV1},
		{"testdata/churn-gbm-v2/MLmodel", churnV2},
	} {
		sig, err := SignatureFromMLmodel(tt.path)
		if err != nil {
			t.Fatalf("SignatureFromMLmodel(%s): %v", tt.path, err)
		}
		if !reflect.DeepEqual(sig, tt.want) {
			t.Errorf("SignatureFromMLmodel(%s) = inputs %+v, outputs %+v; want %+v, %+v",
				tt.path, sig.Inputs, sig.Outputs, tt.want.Inputs, tt.want.Outputs)
		}
	}
	if _, err := SignatureFromMLmodel("testdata/missing/MLmodel"); err == nil {
		t.Error("SignatureFromMLmodel accepted a missing file; want an error")
	}
}
