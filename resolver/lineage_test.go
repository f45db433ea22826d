package resolver

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

// The lineage store's facts, as recorded from the real server
// (testdata/mlflow-real/rest-lineage and lineage/mlflow.db).
const (
	lineageRunV1   = "f7b42f7b3eaa43f3b0d4ea3be90d164f"
	lineageRunV2   = "56b09a4d8e884d348c56a69f442ebae8"
	lineageCommit  = "8c1f4e2a9b7d3c6e5f0a1b2c3d4e5f6a7b8c9d0e"
	lineageDVCHash = "5d41ab9c7e3f2a1b0c9d8e7f6a5b4c3d"
	lineageRepo    = "https://github.com/example/churn"
)

// lineageSQLite returns a resolver on a copy of the lineage store.
func lineageSQLite(t *testing.T) *Resolver {
	t.Helper()
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "testdata/mlflow-real/lineage/mlflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "mlflow.db")
	if err := os.WriteFile(db, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return newResolver(t, Config{TrackingURI: "sqlite:///" + db, ArtifactsRoot: filepath.Join(root, "testdata/mlflow-real/lineage/mlartifacts")})
}

// wantLineage is the chain of churn-lineage version 1 (full) and 2 (none).
func wantLineage(version string) *Lineage {
	if version == "1" {
		return &Lineage{
			Run: LineageRun{ID: lineageRunV1, IDFrom: RunIDFromModelVersion, State: LinkFound, Name: "churn-gbm-lineage",
				ExperimentID: "1", ExperimentName: "lineage", Status: "FINISHED", User: "churn-bot",
				StartTime: 1796611711549, EndTime: 1796611727051, LifecycleStage: "active"},
			Code: LineageCode{GitCommit: lineageCommit, GitCommitFrom: "run", RepoURL: lineageRepo, SourceName: lineageRepo,
				SourceType: "PROJECT", EntryPoint: "main"},
			Data: LineageData{Version: lineageDVCHash, VersionFrom: "run tag dvc_data_hash", DVCDataHash: lineageDVCHash,
				Datasets: []DatasetInput{{Name: "churn-train", Digest: "faf026f2", SourceType: "s3",
					Source:    `{"uri": "s3://example-churn-dvc/files/md5/5d/41ab9c7e3f2a1b0c9d8e7f6a5b4c3d"}`,
					SourceURI: "s3://example-churn-dvc/files/md5/5d/41ab9c7e3f2a1b0c9d8e7f6a5b4c3d", Context: "training"}}},
			Params:  []Param{{"lr", "0.05"}, {"max_depth", "3"}, {"n_estimators", "200"}},
			Metrics: []Metric{{Key: "val_auc", Value: 0.781, Step: 200, Timestamp: 1796611713016}},
			Tags: map[string]string{
				"mlflow.user": "churn-bot", "mlflow.source.name": lineageRepo, "mlflow.source.type": "PROJECT",
				"mlflow.project.entryPoint": "main", "mlflow.source.git.commit": lineageCommit,
				"mlflow.source.git.repoURL": lineageRepo, "mlflow.runName": "churn-gbm-lineage", "mlflow.project.env": "local",
				"mlflow.project.backend": "local", "dvc_data_hash": lineageDVCHash, "dvc_data_path": "data/churn-train.csv",
			},
			Absent: []string{},
		}
	}
	return &Lineage{
		Run: LineageRun{ID: lineageRunV2, IDFrom: RunIDFromModelVersion, State: LinkFound, Name: "churn-gbm-adhoc",
			ExperimentID: "1", ExperimentName: "lineage", Status: "FINISHED", User: "churn-bot",
			StartTime: 1796611727262, EndTime: 1796611740193, LifecycleStage: "active"},
		Code:    LineageCode{SourceName: "train.py", SourceType: "LOCAL"},
		Data:    LineageData{VersionNote: "no dvc_data_hash tag and no dataset input logged", Datasets: []DatasetInput{}},
		Params:  []Param{{"lr", "0.1"}, {"max_depth", "3"}, {"n_estimators", "100"}},
		Metrics: []Metric{{Key: "val_auc", Value: 0.768, Step: 100, Timestamp: 1796611727609}},
		Tags: map[string]string{"mlflow.user": "churn-bot", "mlflow.source.name": "train.py", "mlflow.source.type": "LOCAL",
			"mlflow.runName": "churn-gbm-adhoc"},
		Absent: []string{
			"no git commit logged (run tag mlflow.source.git.commit)",
			"no git repository logged (run tag mlflow.source.git.repoURL)",
			"no entry point logged (run tag mlflow.project.entryPoint)",
			"no DVC data hash logged (run tag dvc_data_hash)",
			"no dataset input logged (mlflow.log_input)",
		},
	}
}

// TestLineageBothBackends reads the chain of both churn-lineage versions,
// by alias and by version, over REST (the fake serving the recordings) and
// from the SQLite store the server ran on: both must give exactly the
// recorded facts.
func TestLineageBothBackends(t *testing.T) {
	s := fakemlflow.New(t, fakemlflow.WithStore(fakemlflow.LineageStore))
	backends := map[string]*Resolver{"rest": newResolver(t, Config{TrackingURI: s.URL()}), "sqlite": lineageSQLite(t)}
	for _, tt := range []struct{ uri, version, dataVersion string }{
		{"models:/churn-lineage@champion", "1", lineageDVCHash},
		{"models:/churn-lineage/1", "1", lineageDVCHash},
		{"models:/churn-lineage@challenger", "2", ""},
		{"models:/churn-lineage/2", "2", ""},
	} {
		for _, name := range []string{"rest", "sqlite"} {
			t.Run(tt.uri+"/"+name, func(t *testing.T) {
				r := backends[name]
				res, err := r.Resolve(context.Background(), mustURI(t, tt.uri))
				if err != nil {
					t.Fatal(err)
				}
				if res.Version != tt.version || res.DataVersion != tt.dataVersion {
					t.Errorf("got version %s data version %q; want %s %q", res.Version, res.DataVersion, tt.version, tt.dataVersion)
				}
				l, err := r.Lineage(context.Background(), res)
				if err != nil {
					t.Fatal(err)
				}
				want := wantLineage(tt.version)
				if !reflect.DeepEqual(l, want) {
					t.Errorf("got  %s\nwant %s", jsonOf(l), jsonOf(want))
				}
				if !reflect.DeepEqual(res.RunTags, want.Tags) {
					t.Errorf("RunTags: got %v; want %v", res.RunTags, want.Tags)
				}
			})
		}
	}
}

// TestServingResolveCallsUnchanged counts the registry calls: serving's
// Resolve makes the same five as before lineage existed, filling
// DataVersion and RunTags from its one runs/get; Lineage adds only
// experiments/get.
func TestServingResolveCallsUnchanged(t *testing.T) {
	s := fakemlflow.New(t, fakemlflow.WithStore(fakemlflow.LineageStore))
	r := newResolver(t, Config{TrackingURI: s.URL()})
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-lineage@champion"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"GET /api/2.0/mlflow/registered-models/alias",
		"GET /api/2.0/mlflow/registered-models/get",
		"GET /api/2.0/mlflow/model-versions/get-download-uri",
		"GET /api/2.0/mlflow/logged-models/m-aabd374459e44bfab85ff2e6ddd5ba8b",
		"GET /api/2.0/mlflow/runs/get",
	}
	if got := requestLines(s); !slices.Equal(got, want) {
		t.Errorf("Resolve's requests:\ngot  %q\nwant %q", got, want)
	}
	if res.DataVersion != lineageDVCHash || res.RunTags["dvc_data_path"] != "data/churn-train.csv" || len(res.RunTags) != 11 {
		t.Errorf("got data version %q and run tags %v; want %s and the run's 11 tags", res.DataVersion, res.RunTags, lineageDVCHash)
	}
	if _, err := r.Lineage(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	want = append(want, "GET /api/2.0/mlflow/experiments/get")
	if got := requestLines(s); !slices.Equal(got, want) {
		t.Errorf("Resolve and Lineage's requests:\ngot  %q\nwant %q", got, want)
	}
}

// TestLineageOfCachedResolution reads the run again when the Resolution
// was loaded from the cache, which does not keep the run.
func TestLineageOfCachedResolution(t *testing.T) {
	s := fakemlflow.New(t, fakemlflow.WithStore(fakemlflow.LineageStore))
	r := newResolver(t, Config{TrackingURI: s.URL()})
	u := mustURI(t, "models:/churn-lineage@champion")
	res, err := r.Resolve(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fetch(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	if err := r.Remember(res); err != nil {
		t.Fatal(err)
	}
	cached, _, err := r.Cached(u)
	if err != nil {
		t.Fatal(err)
	}
	if cached.DataVersion != lineageDVCHash || len(cached.RunTags) != 11 {
		t.Errorf("cached resolution: got data version %q, %d run tags; want %s and 11", cached.DataVersion, len(cached.RunTags), lineageDVCHash)
	}
	before := len(s.Requests())
	l, err := r.Lineage(context.Background(), cached)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l, wantLineage("1")) {
		t.Errorf("got %s", jsonOf(l))
	}
	if got := requestLines(s)[before:]; !slices.Equal(got, []string{"GET /api/2.0/mlflow/runs/get", "GET /api/2.0/mlflow/experiments/get"}) {
		t.Errorf("got requests %q; want runs/get and experiments/get", got)
	}
}

// TestLineageAbsentRun says plainly when the run cannot be read, and keeps
// the commit the LoggedModel gives.
func TestLineageAbsentRun(t *testing.T) {
	for _, tt := range []struct {
		status int
		state  LinkState
		absent string
	}{
		{http.StatusNotFound, LinkMissing, "run " + lineageRunV1 + " not found in the registry"},
		{http.StatusForbidden, LinkUnauthorized, "run " + lineageRunV1 + " not readable with these credentials"},
	} {
		s := fakemlflow.New(t, fakemlflow.WithStore(fakemlflow.LineageStore))
		s.SetResponse(http.MethodGet, "/api/2.0/mlflow/runs/get?run_id="+lineageRunV1, tt.status, "application/json",
			[]byte(`{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run with id=`+lineageRunV1+` not found"}`))
		r := newResolver(t, Config{TrackingURI: s.URL()})
		res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-lineage@champion"))
		if err != nil {
			t.Fatal(err)
		}
		if res.DataVersion != "" || res.RunTags != nil {
			t.Errorf("run %s: got data version %q, run tags %v; want none", tt.state, res.DataVersion, res.RunTags)
		}
		l, err := r.Lineage(context.Background(), res)
		if err != nil {
			t.Fatal(err)
		}
		if l.Run.State != tt.state || !strings.HasPrefix(l.Absent[0], tt.absent) || l.Code.GitCommit != "" || len(l.Params) != 0 {
			t.Errorf("run %s: got %s", tt.state, jsonOf(l))
		}
		if !slices.Contains(l.Absent, "no git commit logged (run tag mlflow.source.git.commit)") {
			t.Errorf("run %s: absent %q does not say the commit is missing", tt.state, l.Absent)
		}
	}
}

func TestDataVersionOf(t *testing.T) {
	in := func(name, digest, context string) DatasetInput {
		return DatasetInput{Name: name, Digest: digest, Context: context}
	}
	tests := []struct {
		name           string
		tags           map[string]string
		inputs         []DatasetInput
		version, from  string
		whyContains    string
		wantNoVersions bool
	}{
		{"dvc tag wins", map[string]string{"dvc_data_hash": "abc"}, []DatasetInput{in("train", "d1", "training")}, "abc", "run tag dvc_data_hash", "", false},
		{"blank dvc tag", map[string]string{"dvc_data_hash": "  "}, []DatasetInput{in("train", "d1", "training")}, "d1", "digest of dataset input train (context training)", "", false},
		{"training input", nil, []DatasetInput{in("eval", "d2", "evaluation"), in("train", "d1", "training")}, "d1", "digest of dataset input train (context training)", "", false},
		{"two training, one digest", nil, []DatasetInput{in("a", "d1", "training"), in("b", "d1", "training")}, "d1", "digest of dataset input a (context training)", "", false},
		{"two training digests", nil, []DatasetInput{in("a", "d1", "training"), in("b", "d2", "training")}, "", "", "2 dataset inputs with context training have different digests", true},
		{"only input, no context", nil, []DatasetInput{in("x", "d3", "")}, "d3", "digest of dataset input x (the only one; no context logged)", "", false},
		{"only input, other context", nil, []DatasetInput{in("x", "d3", "validation")}, "", "", `the only dataset input (x) has context "validation", not training`, true},
		{"two inputs, no context", nil, []DatasetInput{in("x", "d3", ""), in("y", "d4", "")}, "", "", "none of the 2 dataset inputs has context training", true},
		{"nothing", nil, nil, "", "", "no dvc_data_hash tag and no dataset input logged", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, from, why := DataVersionOf(&Run{Tags: tt.tags, Datasets: tt.inputs})
			if v != tt.version || from != tt.from || !strings.Contains(why, tt.whyContains) || (why == "") == tt.wantNoVersions {
				t.Errorf("got %q, %q, %q; want %q, %q, a reason containing %q", v, from, why, tt.version, tt.from, tt.whyContains)
			}
		})
	}
}

// TestSQLiteRunIsBounded refuses a run whose tags, params and inputs are
// larger than runs/get's body may be, instead of reading them all.
func TestSQLiteRunIsBounded(t *testing.T) {
	r := lineageSQLite(t)
	db := strings.TrimPrefix(r.tracking.(*sqliteRegistry).uri, "sqlite:///")
	w, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Exec(`INSERT INTO params (key, value, run_uuid) VALUES ('huge', ?, ?)`, strings.Repeat("x", maxRunBytes), lineageRunV2); err != nil {
		t.Fatal(err)
	}
	_, err = r.tracking.Run(context.Background(), lineageRunV2)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "params") || !strings.Contains(err.Error(), lineageRunV2) {
		t.Errorf("got %v; want ErrInvalid naming the run and its params", err)
	}
	if _, err := r.tracking.Run(context.Background(), lineageRunV1); err != nil {
		t.Errorf("the other run: %v", err)
	}
}

// requestLines lists the fake's requests as "METHOD path".
func requestLines(s *fakemlflow.Server) []string {
	var out []string
	for _, r := range s.Requests() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}
