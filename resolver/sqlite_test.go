package resolver

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

// sameURIs are resolved by both backends in TestSQLiteMatchesREST.
var sameURIs = []string{
	"models:/churn-gbm@champion", "models:/churn-gbm@challenger", "models:/churn-gbm/1", "models:/churn-gbm/3",
	"models:/churn-gbm/4", "models:/churn-gbm/latest", "models:/churn-gbm@latest", "models:/churn-gbm/Production",
	"models:/churn-gbm/staging", "models:/churn-gbm/None", "models:/churn-sk@champion",
	"models:/m-297cf642525145a9a1b78850d630dfcc", "models:/m-27fa626c559e41928fdd5a395ddfa166",
}

// Runs and LoggedModels of the example store that were never recorded over
// REST.
var (
	unrecordedRuns         = map[string]bool{"2278614bd30e4c3bb4a097f1f1aaebff": true}
	unrecordedLoggedModels = map[string]bool{"m-8a4b81f78a164884bd56a0a7b757410d": true, "m-a7c4b81640f2447ea43030dec6d3a0ec": true}
)

// TestSQLiteMatchesREST resolves the same URIs from the recorded REST server
// and from the SQLite store it ran on; the answers must agree.
func TestSQLiteMatchesREST(t *testing.T) {
	s := fakemlflow.New(t)
	rest := newResolver(t, Config{TrackingURI: s.URL()})
	lite := newResolver(t, sqliteConfig(t, copyStore(t)))
	for _, uri := range sameURIs {
		t.Run(uri, func(t *testing.T) {
			u := mustURI(t, uri)
			want, err := rest.Resolve(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			got, err := lite.Resolve(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			if got.LoggedModel != LinkFound || got.Run != LinkFound || got.GitCommit == "" {
				t.Errorf("SQLite provenance: got run %s, logged model %s, commit %q; want both found and a commit", got.Run, got.LoggedModel, got.GitCommit)
			}
			// The REST recordings lack a few runs and LoggedModels (they were
			// never fetched from the real server); the fake answers 404 for
			// them, so REST must report exactly those as missing.
			exp := *got
			if unrecordedLoggedModels[exp.ModelID] {
				exp.LoggedModel = LinkMissing
			}
			if unrecordedRuns[exp.RunID] {
				exp.Run, exp.GitCommit, exp.RunTags, exp.run = LinkMissing, "", nil, nil
				if unrecordedLoggedModels[exp.ModelID] {
					exp.ExperimentID = ""
				}
			}
			got = &exp
			got.ResolvedAt = want.ResolvedAt
			if !reflect.DeepEqual(got, want) {
				t.Errorf("SQLite: %s\nREST:   %s", jsonOf(got), jsonOf(want))
			}
			gotMV, err := lite.Check(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			wantMV, err := rest.Check(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotMV, wantMV) {
				t.Errorf("Check: SQLite %+v\nREST %+v", gotMV, wantMV)
			}
		})
	}
}

func TestSQLiteNotFound(t *testing.T) {
	r := newResolver(t, sqliteConfig(t, copyStore(t)))
	for _, uri := range []string{"models:/churn-gbm@shadow", "models:/no-such-model@champion", "models:/churn-gbm/99",
		"models:/no-such-model/1", "models:/no-such-model/latest", "models:/churn-gbm/Archived", "models:/m-00000000000000000000000000000000"} {
		_, err := r.Resolve(context.Background(), mustURI(t, uri))
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), uri) || !strings.Contains(err.Error(), "sqlite:///") {
			t.Errorf("%s: got %v; want ErrNotFound naming the URI and the store", uri, err)
		}
	}
}

// TestSQLiteSeesOtherWriters changes the store through a separate read-write
// connection, as another process would, and expects the next call to see it.
func TestSQLiteSeesOtherWriters(t *testing.T) {
	db := copyStore(t)
	r := newResolver(t, sqliteConfig(t, db))
	u := mustURI(t, "models:/churn-gbm@champion")
	mv, err := r.Check(context.Background(), u)
	if err != nil || mv.Version != "1" {
		t.Fatalf("before: got %+v, %v; want version 1", mv, err)
	}
	w, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`UPDATE registered_model_aliases SET version = 2 WHERE name = 'churn-gbm' AND alias = 'champion'`)
	mv, err = r.Check(context.Background(), u)
	if err != nil || mv.Version != "2" || strings.Join(mv.Aliases, ",") != "challenger,champion" {
		t.Fatalf("after moving champion: got %+v, %v; want version 2 with aliases challenger,champion", mv, err)
	}

	exec(`UPDATE model_versions SET current_stage = 'Deleted_Internal' WHERE name = 'churn-gbm' AND version = 4`)
	if mv, err := r.Check(context.Background(), mustURI(t, "models:/churn-gbm/latest")); err != nil || mv.Version != "3" {
		t.Errorf("latest after deleting v4: got %+v, %v; want version 3", mv, err)
	}
	if _, err := r.Check(context.Background(), mustURI(t, "models:/churn-gbm/4")); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted v4: got %v; want ErrNotFound", err)
	}

	exec(`UPDATE model_versions SET status = 'FAILED_REGISTRATION' WHERE name = 'churn-gbm' AND version = 3`)
	if _, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/3")); !errors.Is(err, ErrNotReady) {
		t.Errorf("failed v3: got %v; want ErrNotReady", err)
	}

	exec(`INSERT INTO registered_model_tags (key, value, name) VALUES ('mlflow.prompt.is_prompt', 'true', 'churn-sk')`)
	if _, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-sk@champion")); !errors.Is(err, ErrPrompt) {
		t.Errorf("prompt: got %v; want ErrPrompt", err)
	}

	exec(`DELETE FROM runs WHERE run_uuid = 'b8bb2880eff64cf2839703f40a573875'`)
	exec(`DELETE FROM logged_model_tags WHERE model_id = 'm-8a4b81f78a164884bd56a0a7b757410d'`)
	exec(`DELETE FROM logged_models WHERE model_id = 'm-8a4b81f78a164884bd56a0a7b757410d'`)
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/2"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Run != LinkMissing || res.LoggedModel != LinkMissing || res.RunID != "b8bb2880eff64cf2839703f40a573875" || res.GitCommit != "" {
		t.Errorf("purged run and logged model: got %+v", res)
	}
}

func TestSQLiteIsReadOnly(t *testing.T) {
	db := copyStore(t)
	before := fileSum(t, db)
	r := newResolver(t, sqliteConfig(t, db))
	for _, uri := range sameURIs {
		if _, err := r.Resolve(context.Background(), mustURI(t, uri)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.registry.(*sqliteRegistry).db.Exec(`DELETE FROM registered_model_aliases`); err == nil {
		t.Error("a write through the resolver's connection succeeded; want it refused")
	}
	if fileSum(t, db) != before {
		t.Error("the store file changed")
	}
	entries, _ := os.ReadDir(filepath.Dir(db))
	if len(entries) != 1 {
		t.Errorf("files next to the store: got %v; want only mlflow.db", entries)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func TestSQLiteFetch(t *testing.T) {
	r := newResolver(t, sqliteConfig(t, copyStore(t)))
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm@champion"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := r.Fetch(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, dir, wantV1(t))

	// Without ArtifactsRoot, mlflow-artifacts: locations cannot be read.
	cfg := sqliteConfig(t, copyStore(t))
	cfg.ArtifactsRoot = ""
	bare := newResolver(t, cfg)
	_, err = bare.Resolve(context.Background(), mustURI(t, "models:/churn-gbm@champion"))
	checkIs(t, err, ErrInvalid)
	if !strings.Contains(err.Error(), "--artifacts-root") {
		t.Errorf("error %q does not say to pass --artifacts-root", err)
	}
}

func TestSQLiteRelativePath(t *testing.T) {
	db := copyStore(t)
	t.Chdir(filepath.Dir(db))
	r := newResolver(t, Config{TrackingURI: "sqlite:///mlflow.db"})
	if mv, err := r.Check(context.Background(), mustURI(t, "models:/churn-gbm@challenger")); err != nil || mv.Version != "2" {
		t.Fatalf("got %+v, %v; want version 2", mv, err)
	}
}

func TestSQLiteOpenErrors(t *testing.T) {
	notMLflow := filepath.Join(t.TempDir(), "other.db")
	w, err := sql.Open("sqlite", notMLflow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	w.Close()
	tests := []struct{ uri, want string }{
		{"sqlite:///" + filepath.Join(t.TempDir(), "missing.db"), "no such file"},
		{"sqlite:///" + notMLflow, "is not an MLflow 2.3+ store"},
		{"sqlite://", "want sqlite:///relative/path.db"},
		{"sqlite:///:memory:", "want sqlite:///relative/path.db"},
		{"sqlite:////x.db?mode=rw", "query parameters are not supported"},
		{"postgresql://db/mlflow", "want http(s)://"},
		{"file:///srv/mlruns", "want http(s)://"},
	}
	for _, tt := range tests {
		_, err := New(Config{TrackingURI: tt.uri, CacheDir: t.TempDir()})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "TrackingURI") {
			t.Errorf("New(%s): got %v; want ErrInvalid naming TrackingURI and containing %q", tt.uri, err, tt.want)
		}
	}
}

// TestSQLiteDefaultArtifactsRoot: without ArtifactsRoot, a store whose
// directory holds mlartifacts/ (mlflow server's default destination) is
// read from there, files and all.
func TestSQLiteDefaultArtifactsRoot(t *testing.T) {
	db := copyStore(t)
	if err := os.Symlink(filepath.Join(repoRoot(t), "examples/registry/mlartifacts"), filepath.Join(filepath.Dir(db), "mlartifacts")); err != nil {
		t.Fatal(err)
	}
	r := newResolver(t, Config{TrackingURI: "sqlite:///" + db, CacheDir: t.TempDir()})
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm@champion"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := r.Fetch(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, dir, wantV1(t))
}
