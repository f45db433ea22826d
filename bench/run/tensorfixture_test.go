package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func loadTestMLP(t *testing.T) tensorFixture {
	t.Helper()
	f, err := loadTensorFixture(filepath.Join("..", "..", mlpModelDir), mlpModel, mlpRoute, 256)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMLPFixture(t *testing.T) {
	f := loadTestMLP(t)
	if f.want != 0.45176831769981274 || f.rtol != 1e-4 || f.atol != 1e-6 {
		t.Errorf("got probability %v, rtol %v, atol %v; want expected.json's first row and tolerances", f.want, f.rtol, f.atol)
	}
	var req struct {
		Inputs [][]float64 `json:"inputs"`
	}
	if err := json.Unmarshal(f.request(), &req); err != nil {
		t.Fatal(err)
	}
	if len(req.Inputs) != 1 || len(req.Inputs[0]) != 256 || req.Inputs[0][0] != 0.875 || req.Inputs[0][1] != -0.6640625 {
		t.Errorf("request: got %d rows starting %v; want the example's first row of 256", len(req.Inputs), req.Inputs)
	}
	if p := f.payload(); len(p.Bodies) != 1 || string(p.Bodies[0]) != string(f.request()) {
		t.Errorf("payload: got %d bodies; want the one-row request", len(p.Bodies))
	}
	tests := []struct {
		got float64
		ok  bool
	}{
		{0.45176833868026733, true}, // ONNX Runtime's float32 answer
		{0.4517, false},
		{0.45176831769981274 + 1.05e-6 + 4.52e-5, false},
	}
	for _, tt := range tests {
		if err := f.check(tt.got); (err == nil) != tt.ok {
			t.Errorf("check(%v): got %v; want ok %v", tt.got, err, tt.ok)
		}
	}
}

func TestCheckTensorAnswer(t *testing.T) {
	f := loadTestMLP(t)
	good := `{"predictions": {"probability": [[0.45176833868026733]]}}`
	headers := map[string]string{"X-Route": "mlp", "X-Model-Name": "mlp256", "X-Model-Version": "1", "X-Model-Alias": "champion"}
	tests := []struct {
		name     string
		status   int
		body     string
		dropHead string
		wantErr  string
	}{
		{"right", 200, good, "", ""},
		{"wrong probability", 200, `{"predictions": {"probability": [[0.5]]}}`, "", "probability 0.5"},
		{"records instead of tensors", 200, `{"predictions": [{"probability": 0.45}]}`, "", "cannot unmarshal"},
		{"two rows", 200, `{"predictions": {"probability": [[0.45], [0.62]]}}`, "", "want one probability"},
		{"error status", 400, `{"error_code": "BAD_REQUEST"}`, "", "status 400"},
		{"missing version header", 200, good, "X-Model-Version", "header X-Model-Version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if r.URL.Path != "/routes/mlp/invocations" || string(body) != string(f.request()) {
					http.Error(w, "unexpected request", http.StatusTeapot)
					return
				}
				for k, v := range headers {
					if k != tt.dropHead {
						w.Header().Set(k, v)
					}
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			err := checkTensorAnswer(context.Background(), srv.URL, f)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("got %v; want no error", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("got %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadTensorFixtureWrongWidth(t *testing.T) {
	_, err := loadTensorFixture(filepath.Join("..", "..", mlpModelDir), mlpModel, mlpRoute, 64)
	if err == nil || !strings.Contains(err.Error(), "want rows of 64 numbers") || !strings.Contains(err.Error(), mlpModel) {
		t.Errorf("got %v; want an error naming the model and the width", err)
	}
}
