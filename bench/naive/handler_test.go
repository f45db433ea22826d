package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/mlgate/mlgate/bench/fixture"
	"github.com/mlgate/mlgate/internal/testutil"
)

// TestMain loads ONNX Runtime the way the server does and fails the whole
// package, loudly, when the library is missing.
func TestMain(m *testing.M) {
	lib, err := libraryPath()
	if err == nil {
		err = initRuntime(lib)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "naive tests need ONNX Runtime (run `make onnxruntime` or set %s): %v\n", libraryEnv, err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m)
}

// startNaive serves the naive handler with the real churn-gbm v1 model on
// a loopback port until the test ends.
func startNaive(t *testing.T) *httptest.Server {
	t.Helper()
	m, err := loadModel(defaultModelPath(testutil.RepoRoot(t)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newMux(m))
	t.Cleanup(func() {
		srv.Close()
		if err := m.Close(); err != nil {
			t.Errorf("close model: %v", err)
		}
	})
	return srv
}

func post(t *testing.T, srv *httptest.Server, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := srv.Client().Post(srv.URL+"/invocations", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func probabilities(t *testing.T, body []byte) []float64 {
	t.Helper()
	var got scoringResponse
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("response %s: %v", body, err)
	}
	out := make([]float64, len(got.Predictions))
	for i, p := range got.Predictions {
		out[i] = p.Probability
	}
	return out
}

func TestFirstExampleRow(t *testing.T) {
	srv := startNaive(t)
	resp, body := post(t, srv, fixture.FirstRowRequest)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d; want 200 (body %s)", resp.StatusCode, body)
	}
	got := probabilities(t, body)
	if len(got) != 1 || got[0] != fixture.FirstRowProbability {
		t.Errorf("probabilities: got %v; want [%v]", got, fixture.FirstRowProbability)
	}
	if got := strings.TrimSpace(string(body)); got != `{"predictions":[{"probability":0.23261308670043945}]}` {
		t.Errorf("body: got %s; want encoding/json's rendering of %s", got, fixture.FirstRowResponse)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type: got %q; want application/json", got)
	}
	for _, h := range fixture.Headers() {
		if got := resp.Header.Get(h.Name); got != h.Value {
			t.Errorf("header %s: got %q; want %q", h.Name, got, h.Value)
		}
	}
}

// batch16 reads the recorded 16-row batch and churn-gbm v1's outputs for
// it, computed by ONNX Runtime 1.24.1.
func batch16(t *testing.T) (rows [][]float64, want []float64) {
	t.Helper()
	var in struct {
		Columns []string    `json:"columns"`
		Rows    [][]float64 `json:"rows"`
	}
	readJSON(t, testutil.Path(t, "testdata", "mlflow-real", "expected", "batch16-inputs.json"), &in)
	if strings.Join(in.Columns, ",") != strings.Join(fixture.Columns[:], ",") {
		t.Fatalf("batch16 columns: got %v; want %v", in.Columns, fixture.Columns)
	}
	var out struct {
		Logreg struct {
			Batch16 struct {
				Probability [][]float64 `json:"probability"`
			} `json:"expected_outputs_for_batch16"`
		} `json:"logreg"`
	}
	readJSON(t, testutil.Path(t, "testdata", "mlflow-real", "expected", "churn-gbm-expected-outputs.json"), &out)
	for _, p := range out.Logreg.Batch16.Probability {
		want = append(want, p[0])
	}
	if len(in.Rows) != 16 || len(want) != 16 {
		t.Fatalf("batch16: got %d rows and %d outputs; want 16 of each", len(in.Rows), len(want))
	}
	return in.Rows, want
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// dataframeSplitBody writes rows, given in fixture.Columns order, as a
// dataframe_split request with the columns in the given order; nil columns
// leave "columns" out and keep the signature order.
func dataframeSplitBody(t *testing.T, columns []string, rows [][]float64) string {
	t.Helper()
	index := map[string]int{}
	for i, c := range fixture.Columns {
		index[c] = i
	}
	order := columns
	if order == nil {
		order = fixture.Columns[:]
	}
	data := make([][]float64, len(rows))
	for i, r := range rows {
		for _, c := range order {
			j, ok := index[c]
			if !ok {
				t.Fatalf("unknown column %q", c)
			}
			data[i] = append(data[i], r[j])
		}
	}
	df := map[string]any{"data": data}
	if columns != nil {
		df["columns"] = columns
	}
	b, err := json.Marshal(map[string]any{"dataframe_split": df})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBatches(t *testing.T) {
	srv := startNaive(t)
	rows, want := batch16(t)
	tests := []struct {
		name string
		body string
	}{
		{"signature order", dataframeSplitBody(t, fixture.Columns[:], rows)},
		{"columns reversed", dataframeSplitBody(t, []string{"contract_months", "total_charges", "monthly_charges", "tenure"}, rows)},
		{"no columns", dataframeSplitBody(t, nil, rows)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, srv, tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status: got %d; want 200 (body %s)", resp.StatusCode, body)
			}
			got := probabilities(t, body)
			if len(got) != len(want) {
				t.Fatalf("predictions: got %d; want %d", len(got), len(want))
			}
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-7 {
					t.Errorf("row %d: got %v; want %v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	srv := startNaive(t)
	tests := []struct {
		name    string
		body    string
		wantMsg string
	}{
		{"not JSON", `{"dataframe_split": `, "invalid JSON"},
		{"no dataframe_split", `{"inputs": [[37, 36.0, 1306.52, 1]]}`, "no dataframe_split"},
		{"no rows", `{"dataframe_split": {"columns": ["tenure"], "data": []}}`, "no rows"},
		{"missing column", `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges"], "data": [[37, 36.0, 1306.52]]}}`, `missing column "contract_months"`},
		{"short row", `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52]]}}`, "row 0 has 3 values; want 4"},
		{"string value", `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [["37", 36.0, 1306.52, 1]]}}`, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, srv, tt.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status: got %d; want 400", resp.StatusCode)
			}
			var e errorResponse
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body %s: %v", body, err)
			}
			if e.ErrorCode != "BAD_REQUEST" || !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("error: got %+v; want BAD_REQUEST containing %q", e, tt.wantMsg)
			}
			if got := resp.Header.Get("X-Model-Version"); got != fixture.ModelVersion {
				t.Errorf("X-Model-Version: got %q; want %q", got, fixture.ModelVersion)
			}
		})
	}
}

func TestOtherEndpoints(t *testing.T) {
	srv := startNaive(t)
	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{http.MethodGet, "/health", 200, "\n"},
		{http.MethodGet, "/ping", 200, "\n"},
		{http.MethodGet, "/version", 200, "onnxruntime 1.24.1\n"},
		{http.MethodGet, "/invocations", 405, "Method Not Allowed\n"},
		{http.MethodGet, "/ready", 404, "404 page not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Errorf("got %d %q; want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}
