package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// copyExampleStore copies the repository's example MLflow store into a
// temporary directory and returns the copy's path.
func copyExampleStore(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "mlflow.db")
	if err := copyFile(filepath.Join("..", "..", exampleStorePath), dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func openStore(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestRegisterModelVersion registers a version in a copy of the example
// store and reads the rows back, checking each column's value and its SQL
// type against the rows MLflow itself wrote for churn-sk version 1.
func TestRegisterModelVersion(t *testing.T) {
	path := copyExampleStore(t)
	created := time.Date(2026, 11, 22, 3, 0, 0, 123_000_000, time.UTC)
	mv := modelVersion{
		Name: "mlp256", Version: 1, Description: "an MLP", Source: "file:///repo/testdata/models/mlp256",
		Alias: "champion", Created: created,
	}
	if err := registerModelVersion(context.Background(), path, mv); err != nil {
		t.Fatal(err)
	}
	db := openStore(t, path)
	ms := created.UnixMilli()

	var name, desc string
	var ctime, mtime int64
	if err := db.QueryRow(`SELECT name, creation_time, last_updated_time, description FROM registered_models WHERE name = 'mlp256'`).
		Scan(&name, &ctime, &mtime, &desc); err != nil {
		t.Fatalf("registered_models: %v", err)
	}
	if ctime != ms || mtime != ms || desc != "an MLP" {
		t.Errorf("registered_models: got %d, %d, %q; want %d, %d, %q", ctime, mtime, desc, ms, ms, "an MLP")
	}

	const columns = `creation_time, last_updated_time, description, user_id, current_stage, source, run_id, status,
		status_message, run_link, storage_location`
	var got struct {
		ctime, mtime                                    int64
		desc                                            string
		user, statusMessage                             sql.NullString
		stage, source, runID, status, runLink, location string
	}
	if err := db.QueryRow(`SELECT `+columns+` FROM model_versions WHERE name = 'mlp256' AND version = 1`).Scan(
		&got.ctime, &got.mtime, &got.desc, &got.user, &got.stage, &got.source, &got.runID, &got.status,
		&got.statusMessage, &got.runLink, &got.location); err != nil {
		t.Fatalf("model_versions: %v", err)
	}
	if got.ctime != ms || got.mtime != ms || got.stage != "None" || got.status != "READY" ||
		got.source != mv.Source || got.location != mv.Source || got.runID != "" || got.runLink != "" ||
		got.user.Valid || got.statusMessage.Valid {
		t.Errorf("model_versions: got %+v; want READY, stage None, source and storage_location %s, no run", got, mv.Source)
	}
	typeofs := func(where string) string {
		t.Helper()
		var exprs []string
		for _, c := range strings.Split(columns, ",") {
			exprs = append(exprs, "typeof("+strings.TrimSpace(c)+")")
		}
		var s string
		q := `SELECT ` + strings.Join(exprs, " || ',' || ") + ` FROM model_versions WHERE ` + where
		if err := db.QueryRow(q).Scan(&s); err != nil {
			t.Fatalf("typeof: %v", err)
		}
		return s
	}
	if got, want := typeofs(`name = 'mlp256'`), typeofs(`name = 'churn-sk' AND version = 1`); got != want {
		t.Errorf("column types: got %s; want those of MLflow's own row, %s", got, want)
	}

	var version int
	if err := db.QueryRow(`SELECT version FROM registered_model_aliases WHERE name = 'mlp256' AND alias = 'champion'`).Scan(&version); err != nil {
		t.Fatalf("registered_model_aliases: %v", err)
	}
	if version != 1 {
		t.Errorf("alias champion: got version %d; want 1", version)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM model_versions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Errorf("model_versions: got %d rows; want the example's 5 and the new one", n)
	}
}

// TestRegisterModelVersionTwice checks that registering an existing model
// fails and leaves the store as it was.
func TestRegisterModelVersionTwice(t *testing.T) {
	path := copyExampleStore(t)
	mv := modelVersion{Name: "churn-gbm", Version: 9, Source: "file:///x", Alias: "other", Created: time.Now()}
	err := registerModelVersion(context.Background(), path, mv)
	if err == nil || !strings.Contains(err.Error(), "registered_models") || !strings.Contains(err.Error(), "churn-gbm") {
		t.Fatalf("got %v; want an error naming the table and the model", err)
	}
	var n int
	if err := openStore(t, path).QueryRow(`SELECT count(*) FROM model_versions WHERE name = 'churn-gbm' AND version = 9`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("got %d rows for the failed version; want 0", n)
	}
}

func TestNewBenchStore(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	st, err := newBenchStore(context.Background(), repo, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(st.config)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`tracking_uri: "sqlite:///` + filepath.ToSlash(st.db) + `"`,
		`artifacts_root: "` + filepath.Join(repo, exampleArtifacts) + `"`,
		"  - name: churn\n    model: models:/churn-gbm@champion\n  - name: mlp\n    model: models:/mlp256@champion\n  - name: wide\n    model: models:/widemlp@champion\n",
		"  allowed_roots: [" + strconv.Quote(filepath.Join(repo, exampleArtifacts)) + ", " + strconv.Quote(st.cacheDir()) + ", " +
			strconv.Quote(filepath.Join(repo, mlpModelDir)) + ", " + strconv.Quote(st.wideDir) + "]\n",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %q:\n%s", want, b)
		}
	}
	var source string
	if err := openStore(t, st.db).QueryRow(`SELECT source FROM model_versions WHERE name = 'mlp256'`).Scan(&source); err != nil {
		t.Fatal(err)
	}
	if want := "file://" + filepath.ToSlash(filepath.Join(repo, mlpModelDir)); source != want {
		t.Errorf("source: got %q; want %q", source, want)
	}
	if err := openStore(t, st.db).QueryRow(`SELECT source FROM model_versions WHERE name = 'widemlp'`).Scan(&source); err != nil {
		t.Fatal(err)
	}
	if want := "file://" + filepath.ToSlash(st.wideDir); source != want {
		t.Errorf("widemlp source: got %q; want %q", source, want)
	}
	wide, err := loadTensorFixture(st.wideDir, wideModel, wideRoute, 64)
	if err != nil {
		t.Fatalf("the generated widemlp: %v", err)
	}
	if wide.want != 0.47573436786763396 {
		t.Errorf("widemlp's expected probability: got %v; want expected.json's first row", wide.want)
	}
	if err := st.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(st.dir); !os.IsNotExist(err) {
		t.Errorf("after remove: %v; want the directory gone", err)
	}
}

// TestCheckResolve runs checkResolveOne against the test binary acting as
// `mlgate resolve`.
func TestCheckResolve(t *testing.T) {
	repo := t.TempDir()
	want := fileURI(filepath.Join(repo, mlpModelDir))
	tests := []struct {
		name, out, wantErr string
		fail               bool
	}{
		{"resolves", `{"name": "mlp256", "version": "1", "status": "READY", "artifact_uri": "` + want + `"}`, "", false},
		{"wrong version", `{"name": "mlp256", "version": "2", "status": "READY", "artifact_uri": "` + want + `"}`, "got mlp256 version 2", false},
		{"not JSON", `uri models:/mlp256@champion`, "invalid character", false},
		{"fails", `no such alias`, "no such alias", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode := "resolve"
			if tt.fail {
				mode = "resolve-fail"
			}
			t.Setenv(fakeServerEnv, mode)
			t.Setenv(fakeResolveEnv, tt.out)
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			st := &benchStore{dir: t.TempDir()}
			st.db = filepath.Join(st.dir, "mlflow.db")
			err = st.checkResolveOne(context.Background(), exe, repo, mlpModel, filepath.Join(repo, mlpModelDir))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("got %v; want no error", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("got %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
