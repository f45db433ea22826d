package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/internal/testutil/otlpreceiver"
	"github.com/mlgate/mlgate/serve"
)

// lineageV1 is churn-lineage version 1's data link as the recorded run
// holds it: its dvc_data_hash tag and two other tags.
var lineageV1 = struct{ dataVersion, dataPath, user string }{
	"5d41ab9c7e3f2a1b0c9d8e7f6a5b4c3d", "data/churn-train.csv", "churn-bot",
}

// TestDataLinkHeaders serves churn-lineage from the recorded registry with
// provenance.tags set: version 1 (DVC hash, tags) answers with
// X-Data-Version and the exposed tags, on a 200 and on a 400, version 2
// (no data link logged) without X-Data-Version; a tag the run lacks sends no
// header. /admin/models and the request spans carry the same.
func TestDataLinkHeaders(t *testing.T) {
	recv := otlpreceiver.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.Endpoint())
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	fake := fakemlflow.New(t, fakemlflow.WithStore(fakemlflow.LineageStore))
	cfg := testConfig(t, fake.URL(),
		RouteConfig{Name: "champion", Model: "models:/churn-lineage@champion"},
		RouteConfig{Name: "challenger", Model: "models:/churn-lineage@challenger"})
	cfg.Provenance.Tags = []string{"dvc_data_path", "mlflow.user", "team"}
	mg := startApp(t, cfg)

	tests := []struct {
		route, body string
		status      int
		want        map[string]string
	}{
		{"champion", oneRow, 200, map[string]string{serve.HeaderModelVersion: "1", serve.HeaderDataVersion: lineageV1.dataVersion,
			serve.HeaderRunID: "f7b42f7b3eaa43f3b0d4ea3be90d164f", serve.HeaderGitCommit: "8c1f4e2a9b7d3c6e5f0a1b2c3d4e5f6a7b8c9d0e",
			serve.HeaderModelID:          "m-aabd374459e44bfab85ff2e6ddd5ba8b",
			"X-Mlflow-Tag-Dvc-Data-Path": lineageV1.dataPath, "X-Mlflow-Tag-Mlflow-User": lineageV1.user, "X-Mlflow-Tag-Team": ""}},
		{"champion", `{"dataframe_split": {"columns": ["tenure"], "data": [[1]]}}`, 400, map[string]string{serve.HeaderModelVersion: "1",
			serve.HeaderDataVersion: lineageV1.dataVersion, "X-Mlflow-Tag-Dvc-Data-Path": lineageV1.dataPath}},
		{"challenger", oneRow, 200, map[string]string{serve.HeaderModelVersion: "2", serve.HeaderDataVersion: "",
			"X-Mlflow-Tag-Dvc-Data-Path": "", "X-Mlflow-Tag-Mlflow-User": lineageV1.user}},
	}
	for _, tt := range tests {
		r := postJSON(t, mg.url+"/routes/"+tt.route+"/invocations", tt.body)
		if r.status != tt.status {
			t.Errorf("%s: status %d %s; want %d", tt.route, r.status, r.body, tt.status)
		}
		for k, v := range tt.want {
			if _, present := r.header[k]; r.header.Get(k) != v || (v == "" && present) {
				t.Errorf("%s (%d): %s = %q; want %q", tt.route, r.status, k, r.header.Get(k), v)
			}
		}
	}

	st := adminModels(t, mg.adminURL)
	if s := target(t, st, "champion").Serving; s == nil || s.DataVersion != lineageV1.dataVersion ||
		s.Tags["dvc_data_path"] != lineageV1.dataPath || s.Tags["mlflow.user"] != lineageV1.user || len(s.Tags) != 2 {
		t.Errorf("/admin/models champion serving %+v; want the data version and the two exposed tags the run has", s)
	}
	if s := target(t, st, "challenger").Serving; s == nil || s.DataVersion != "" || len(s.Tags) != 1 {
		t.Errorf("/admin/models challenger serving %+v; want no data version and one tag", s)
	}

	spans := recv.WaitFor(t, func(ss []otlpreceiver.Span) bool {
		n := 0
		for _, s := range ss {
			if s.Name == "POST /routes/{route}/invocations" {
				n++
			}
		}
		return n >= len(tests)
	}, 20*time.Second)
	for _, s := range spans {
		if s.Name != "POST /routes/{route}/invocations" || fmt.Sprint(s.Attributes["model.version"]) != "1" {
			continue
		}
		for k, v := range map[string]string{"mlflow.data_version": lineageV1.dataVersion,
			"mlflow.tag.dvc_data_path": lineageV1.dataPath, "mlflow.tag.mlflow.user": lineageV1.user} {
			if got := fmt.Sprint(s.Attributes[k]); got != v {
				t.Errorf("request span %s = %q; want %q", k, got, v)
			}
		}
		if _, ok := s.Attributes["mlflow.tag.team"]; ok {
			t.Error("request span has mlflow.tag.team, a tag the run lacks")
		}
	}
}

// TestStrictJSON checks the rules for non-finite numbers end to end, on
// churn-gbm v1, which answers NaN for a NaN total_charges: by default a
// null or NaN in a required double column is refused with 400 naming the
// column; with missing_values: nan it is taken, and the NaN answer is
// written null, or NaN with json_non_finite: python. v2's tensor signature
// takes NaN, and its answer is null by default.
func TestStrictJSON(t *testing.T) {
	fake := fakemlflow.New(t)
	routes := []RouteConfig{championRoute,
		{Name: "nulls", Model: "models:/churn-gbm@champion", MissingValues: "nan"},
		{Name: "python", Model: "models:/churn-gbm@champion", MissingValues: "nan", JSONNonFinite: "python"},
		{Name: "tensor", Model: "models:/churn-gbm/2"}}
	mg := startApp(t, testConfig(t, fake.URL(), routes...))
	nullRow := strings.Replace(oneRow, "36.0", "null", 1)
	nanRow := strings.Replace(oneRow, "1306.52", "NaN", 1)
	for _, body := range []string{nullRow, nanRow} {
		r := postJSON(t, mg.url+"/routes/churn/invocations", body)
		if r.status != 400 || !strings.Contains(string(r.body), `is not a finite number`) {
			t.Errorf("default route, %s: %d %s; want 400 naming the column", body, r.status, r.body)
		}
	}
	for _, tt := range []struct{ route, body, want string }{
		{"churn", oneRow, bodyOf["1"]},
		{"nulls", nanRow, `{"predictions": [{"probability": null}]}`},
		{"python", nanRow, `{"predictions": [{"probability": NaN}]}`},
		{"tensor", `{"inputs": [[37, 36.0, NaN, 1]]}`, `{"predictions": {"probability": [[null]]}}`},
	} {
		r := postJSON(t, mg.url+"/routes/"+tt.route+"/invocations", tt.body)
		if r.status != 200 || string(r.body) != tt.want {
			t.Errorf("route %s: %d %s; want 200 %s", tt.route, r.status, r.body, tt.want)
		}
	}
	want := map[string][2]string{"churn": {"null", "refuse"}, "nulls": {"null", "nan"}, "python": {"python", "nan"}, "tensor": {"null", "refuse"}}
	for _, r := range adminModels(t, mg.adminURL).Routes {
		if got := [2]string{r.JSONNonFinite, r.MissingValues}; got != want[r.Name] {
			t.Errorf("/admin/models route %s: json_non_finite, missing_values = %q; want %q", r.Name, got, want[r.Name])
		}
	}
}

// TestRecordsOfDifferentShapes serves the labelprobs fixture (label [N],
// probabilities [N,4], a column-based signature) from the fake registry,
// which MLflow's scoring server cannot answer: mlgate answers one record
// per row with the row's label and its probabilities.
func TestRecordsOfDifferentShapes(t *testing.T) {
	fake := fakemlflow.New(t)
	dir := testutil.Path(t, "testdata", "models", "labelprobs")
	files := map[string][]byte{}
	for _, name := range []string{"MLmodel", "model.onnx", "serving_input_example.json", "input_example.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	v := fake.AddVersion(fakemlflow.Version{Name: "classifier", Files: files})
	fake.SetAlias("classifier", "champion", v)
	mg := startApp(t, testConfig(t, fake.URL(), RouteConfig{Name: "classes", Model: "models:/classifier@champion"}))
	r := postJSON(t, mg.url+"/invocations", `{"dataframe_split": {"columns": ["x0", "x1", "x2"], "data": [[0.5, -1, 1.5], [1, 1, -1]]}}`)
	var got struct {
		Predictions []map[string]json.RawMessage `json:"predictions"`
	}
	if err := json.Unmarshal(r.body, &got); r.status != 200 || err != nil || len(got.Predictions) != 2 {
		t.Fatalf("%d %s (%v); want two records", r.status, r.body, err)
	}
	for i, rec := range got.Predictions {
		var label int64
		var probs []float64
		if len(rec) != 2 || json.Unmarshal(rec["label"], &label) != nil || json.Unmarshal(rec["probabilities"], &probs) != nil || len(probs) != 4 {
			t.Errorf("record %d = %s; want a label and four probabilities", i, r.body)
			continue
		}
		sum, best := 0.0, 0
		for k, p := range probs {
			sum += p
			if p > probs[best] {
				best = k
			}
		}
		if math.Abs(sum-1) > 1e-5 || int64(best) != label {
			t.Errorf("record %d: label %d, probabilities %v (sum %v); want the label to be the most probable class", i, label, probs, sum)
		}
	}
}
