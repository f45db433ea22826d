package infer

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/signature"
)

func TestMain(m *testing.M) {
	lib, err := FindLibrary("")
	if err == nil {
		err = Init(lib)
	}
	if err != nil {
		// Never skip: these tests exist to exercise the real runtime.
		fmt.Fprintf(os.Stderr, "infer tests need ONNX Runtime %s (run `make onnxruntime` or set %s): %v\n",
			ORTVersion, LibraryEnv, err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m)
}

// expected holds testdata/mlflow-real/expected/churn-gbm-expected-outputs.json.
type expected map[string]struct {
	Version     string                     `json:"registered_model_version"`
	ForExample  map[string]json.RawMessage `json:"expected_outputs_for_input_example"`
	ForBatch16  map[string]json.RawMessage `json:"expected_outputs_for_batch16"`
	ONNXOutputs []struct{ Name string }    `json:"onnx_outputs"`
}

type batch16 struct {
	Columns        []string             `json:"columns"`
	Rows           [][]float64          `json:"rows"`
	Float32Rows    [][]float64          `json:"float32_rows"`
	Float32Columns map[string][]float64 `json:"float32_columns"`
}

func readJSON(t *testing.T, v any, elem ...string) {
	t.Helper()
	readJSONTB(t, v, elem...)
}

func readJSONTB(t testing.TB, v any, elem ...string) {
	t.Helper()
	data, err := os.ReadFile(testutil.Path(t, elem...))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v: %v", elem, err)
	}
}

func flatten(t *testing.T, raw any) []float64 { return testutil.Flatten(t, raw) }

func predictions(t *testing.T, body []byte) map[string][]float64 {
	return testutil.Predictions(t, body)
}

func load(t *testing.T, dir string, cfg Config) *Model {
	t.Helper()
	m, err := Load(context.Background(), dir, cfg)
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	t.Cleanup(m.Release)
	return m
}

func predict(t *testing.T, m *Model, body string) []byte {
	t.Helper()
	b := m.Plan().GetBatch()
	defer m.Plan().PutBatch(b)
	if err := m.Plan().Decode(signature.FormatJSON, []byte(body), b); err != nil {
		t.Fatalf("decode %.80s: %v", body, err)
	}
	out, err := m.Predict(context.Background(), b, nil)
	if err != nil {
		t.Fatalf("predict: %v", err)
	}
	return out
}

func compare(t *testing.T, what string, got map[string][]float64, want map[string]json.RawMessage, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: outputs %v; want %d outputs", what, keys(got), len(want))
	}
	for name, raw := range want {
		var w any
		if err := json.Unmarshal(raw, &w); err != nil {
			t.Fatal(err)
		}
		wv := flatten(t, w)
		gv := got[name]
		if len(gv) != len(wv) {
			t.Fatalf("%s: output %s has %d values; want %d", what, name, len(gv), len(wv))
		}
		for i := range wv {
			if math.Abs(gv[i]-wv[i]) > tol {
				t.Errorf("%s: %s[%d] = %.9g; want %.9g (tolerance %g)", what, name, i, gv[i], wv[i], tol)
			}
		}
	}
}

func keys(m map[string][]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// batch16Body builds the 16-row validation batch as the request format each
// recorded version's signature expects.
func batch16Body(t *testing.T, version string) string {
	t.Helper()
	var b batch16
	readJSON(t, &b, "testdata", "mlflow-real", "expected", "batch16-inputs.json")
	return batchBody(&b, version)
}

func batchBody(b *batch16, version string) string {
	switch version {
	case "1":
		data, _ := json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": b.Columns, "data": b.Rows}})
		return string(data)
	case "2":
		data, _ := json.Marshal(map[string]any{"inputs": b.Float32Rows})
		return string(data)
	default:
		data, _ := json.Marshal(map[string]any{"inputs": b.Float32Columns})
		return string(data)
	}
}

// TestRecordedModels runs every ONNX model recorded from MLflow through
// real ONNX Runtime and checks the outputs the reference run produced.
func TestRecordedModels(t *testing.T) {
	var exp expected
	readJSON(t, &exp, "testdata", "mlflow-real", "expected", "churn-gbm-expected-outputs.json")
	for key, e := range exp {
		t.Run(key, func(t *testing.T) {
			var v int
			fmt.Sscan(e.Version, &v)
			dir := testutil.RecordedModel(t, "churn-gbm", v)
			for _, mode := range []BatchMode{BatchOff, BatchBusy} {
				m := load(t, dir, Config{Batching: mode})
				example, err := os.ReadFile(dir + "/serving_input_example.json")
				if err != nil {
					t.Fatal(err)
				}
				compare(t, "input example", predictions(t, predict(t, m, string(example))), e.ForExample, 1e-6)
				compare(t, "batch16", predictions(t, predict(t, m, batch16Body(t, e.Version))), e.ForBatch16, 1e-6)
			}
		})
	}
}

func TestResponseShape(t *testing.T) {
	tests := []struct {
		version int
		want    string
	}{
		{1, `{"predictions": [{"probability": 0.23261308670043945}]}`},
		{2, `{"predictions": {"probability": [[0.2242213487625122]]}}`},
		{3, `{"predictions": {"label": [1], "probability": [0.6726017594337463]}}`},
	}
	bodies := map[int]string{
		1: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`,
		2: `{"inputs": [[37.0, 36.0, 1306.52, 1.0]]}`,
		3: `{"inputs": {"tenure": [37], "monthly_charges": [36.0], "total_charges": [1306.52], "contract_months": [1]}}`,
	}
	for _, tt := range tests {
		m := load(t, testutil.RecordedModel(t, "churn-gbm", tt.version), Config{})
		if got := string(predict(t, m, bodies[tt.version])); got != tt.want {
			t.Errorf("v%d: got %s; want %s", tt.version, got, tt.want)
		}
	}
}

// TestLargeRunPlanNotKept runs a request whose tensors are larger than
// maxKeptPlanBytes: it is answered, and the worker keeps no tensors for it
// afterwards, while it keeps those of a small request.
func TestLargeRunPlanNotKept(t *testing.T) {
	m := load(t, testutil.RecordedModel(t, "churn-gbm", 1), Config{Workers: 1})
	row := "[37, 36.0, 1306.52, 1]"
	body := func(rows int) string {
		return `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [` +
			strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ") + `]}}`
	}
	large := maxKeptPlanBytes/(4*4) + 1 // float32 (rows, 4) in: over the cap alone
	for _, rows := range []int{large, 3} {
		got := predictions(t, predict(t, m, body(rows)))["probability"]
		if len(got) != rows || got[rows-1] != got[0] {
			t.Fatalf("%d rows: %d predictions", rows, len(got))
		}
	}
	kept := map[int]int{}
	for _, p := range m.workers[0].plans {
		kept[p.rows] = p.bytes
	}
	if _, ok := kept[large]; ok || kept[3] == 0 {
		t.Errorf("the worker keeps plans for %v rows (with their bytes); want one for 3 rows and none for %d", kept, large)
	}
}
