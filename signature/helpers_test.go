package signature

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// realDir is the recorded MLflow fixtures shared by the repository's tests.
var realDir = filepath.Join("..", "testdata", "mlflow-real")

func modelDir(name string, version int) string {
	return filepath.Join(realDir, "models", name, "v"+strconv.Itoa(version))
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// loadMLmodel parses a recorded model's MLmodel file.
func loadMLmodel(t testing.TB, name string, version int) *MLmodel {
	t.Helper()
	m, err := ParseMLmodel(readFile(t, filepath.Join(modelDir(name, version), "MLmodel")))
	if err != nil {
		t.Fatalf("ParseMLmodel(%s v%d): %v", name, version, err)
	}
	return m
}

// The graph inputs of the recorded ONNX models, as ONNX Runtime reports them
// (churn-sk has no ONNX graph; its tests use v1's input).
var (
	graphV1 = []GraphTensor{{Name: "input", DType: Float32, Shape: []int64{-1, 4}}}
	graphV3 = []GraphTensor{
		{Name: "tenure", DType: Float32, Shape: []int64{-1}},
		{Name: "monthly_charges", DType: Float32, Shape: []int64{-1}},
		{Name: "total_charges", DType: Float32, Shape: []int64{-1}},
		{Name: "contract_months", DType: Float32, Shape: []int64{-1}},
	}
)

func graphFor(name string, version int) []GraphTensor {
	if name == "churn-gbm" && version >= 3 {
		return graphV3
	}
	return graphV1
}

// recordedPlan compiles a recorded model's signature against its graph.
func recordedPlan(t testing.TB, name string, version int) *Plan {
	t.Helper()
	m := loadMLmodel(t, name, version)
	p, err := Compile(m.Signature, graphFor(name, version))
	if err != nil {
		t.Fatalf("Compile(%s v%d): %v", name, version, err)
	}
	return p
}

func mustPlan(t testing.TB, sig *Signature, inputs []GraphTensor) *Plan {
	t.Helper()
	p, err := Compile(sig, inputs)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

func mustSig(t testing.TB, inputs, outputs, params string) *Signature {
	t.Helper()
	s, err := ParseSignature(inputs, outputs, params)
	if err != nil {
		t.Fatalf("ParseSignature: %v", err)
	}
	return s
}

// batch16 is expected/batch16-inputs.json.
type batch16 struct {
	Columns        []string             `json:"columns"`
	DataframeIndex []int                `json:"dataframe_index"`
	Rows           [][]float64          `json:"rows"`
	Float32Rows    [][]float32          `json:"float32_rows"`
	Float32Columns map[string][]float32 `json:"float32_columns"`
}

func loadBatch16(t testing.TB) *batch16 {
	t.Helper()
	var b batch16
	if err := json.Unmarshal(readFile(t, filepath.Join(realDir, "expected", "batch16-inputs.json")), &b); err != nil {
		t.Fatalf("batch16-inputs.json: %v", err)
	}
	return &b
}

// decodeErr decodes body and returns the *Error, failing if the error is of
// another type.
func decodeErr(t testing.TB, p *Plan, f Format, body string) (*Batch, *Error) {
	t.Helper()
	return decodeWith(t, p, f, body, Limits{})
}

// decodeWith decodes body within lim, returning the batch and the *Error
// when decoding fails.
func decodeWith(t testing.TB, p *Plan, f Format, body string, lim Limits) (*Batch, *Error) {
	t.Helper()
	b := p.GetBatch()
	err := p.DecodeLimited(context.Background(), f, []byte(body), b, lim)
	if err == nil {
		return b, nil
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Decode(%.60s) error %T %v; want *Error", body, err, err)
	}
	return b, e
}

// mustDecode decodes body and fails on error.
func mustDecode(t testing.TB, p *Plan, f Format, body string) *Batch {
	t.Helper()
	b, e := decodeErr(t, p, f, body)
	if e != nil {
		t.Fatalf("Decode(%.80s): %s: %s", body, e.Code, e.Message)
	}
	return b
}

func shapeEq(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// flatRows flattens rows of float32 values.
func flatRows(rows [][]float32) []float32 {
	var out []float32
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

func f32Eq(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(a[i] != a[i] && b[i] != b[i]) {
			return false
		}
	}
	return true
}
