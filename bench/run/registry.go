package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/mlgate/mlgate/internal/onnxgen"
)

// Routes and models of the mlgate configuration the harness generates.
const (
	// churnRoute serves churn-gbm version 1 and is mlgate's default route.
	churnRoute = "churn"
	churnModel = "churn-gbm"
	// mlpRoute serves mlp256 version 1, which the harness registers.
	mlpRoute = "mlp"
	mlpModel = "mlp256"
	// wideRoute serves widemlp version 1, which the harness generates with
	// internal/onnxgen and registers.
	wideRoute = "wide"
	wideModel = onnxgen.WideMLPName
	// benchAlias is the alias every route follows.
	benchAlias = "champion"
)

// Paths relative to the repository root.
var (
	exampleStorePath = filepath.Join("examples", "registry", "mlflow.db")
	exampleArtifacts = filepath.Join("examples", "registry", "mlartifacts")
	mlpModelDir      = filepath.Join("testdata", "models", "mlp256")
)

// modelVersion is one registered model version as the harness adds it to an
// MLflow SQLite store: a new registered model, its version, and an alias on
// that version.
type modelVersion struct {
	Name        string
	Version     int
	Description string
	// Source is the version's source and storage location: an absolute
	// file:// URI of the model directory.
	Source string
	// RunID may be empty: the version then has no run, as when a model is
	// registered from a path.
	RunID string
	Alias string
	// Created is both the creation and the last-update time.
	Created time.Time
}

// registerModelVersion adds v to the MLflow SQLite store at dbPath, in one
// transaction, with the rows and column values MLflow's SQL store writes
// for a READY version created outside any stage: rows in
// registered_models, model_versions and registered_model_aliases. The
// registered model must not exist yet.
func registerModelVersion(ctx context.Context, dbPath string, v modelVersion) (err error) {
	dsn := "file:" + (&url.URL{Path: dbPath}).EscapedPath() + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("register %s version %d in %s: %w", v.Name, v.Version, dbPath, err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("register %s version %d in %s: %w", v.Name, v.Version, dbPath, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	ms := v.Created.UnixMilli()
	stmts := []struct {
		table string
		query string
		args  []any
	}{
		{"registered_models",
			`INSERT INTO registered_models (name, creation_time, last_updated_time, description) VALUES (?, ?, ?, ?)`,
			[]any{v.Name, ms, ms, v.Description}},
		// user_id and status_message are NULL and run_link is empty in the
		// rows MLflow writes for a version registered without them.
		{"model_versions",
			`INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, user_id,
				current_stage, source, run_id, status, status_message, run_link, storage_location)
			VALUES (?, ?, ?, ?, ?, NULL, 'None', ?, ?, 'READY', NULL, '', ?)`,
			[]any{v.Name, v.Version, ms, ms, v.Description, v.Source, v.RunID, v.Source}},
		{"registered_model_aliases",
			`INSERT INTO registered_model_aliases (alias, version, name) VALUES (?, ?, ?)`,
			[]any{v.Alias, v.Version, v.Name}},
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.query, s.args...); err != nil {
			return fmt.Errorf("register %s version %d in %s: %s: %w", v.Name, v.Version, dbPath, s.table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("register %s version %d in %s: %w", v.Name, v.Version, dbPath, err)
	}
	return nil
}

// benchStore is the MLflow store and mlgate configuration every mlgate the
// harness starts serves from: a temporary copy of the example registry
// with mlp256 and widemlp version 1 registered in it.
type benchStore struct {
	// dir is the temporary directory holding the store, widemlp's model
	// directory, mlgate's cache and the configuration; remove deletes it.
	dir    string
	db     string
	config string
	// wideDir is widemlp's generated model directory.
	wideDir string
	// configText is the generated configuration, for the results.
	configText string
}

// newBenchStore copies the example registry's mlflow.db into a new
// temporary directory, generates widemlp there, registers mlp256 (source
// the fixture's directory under repo) and widemlp version 1 with the alias
// champion, and writes an mlgate configuration with the routes churn, mlp
// and wide. The caller must call remove.
func newBenchStore(ctx context.Context, repo string, now time.Time) (st *benchStore, err error) {
	dir, err := os.MkdirTemp("", "mlgate-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench registry: %w", err)
	}
	st = &benchStore{dir: dir, db: filepath.Join(dir, "mlflow.db"), config: filepath.Join(dir, "mlgate.yaml"),
		wideDir: filepath.Join(dir, "models", wideModel)}
	defer func() {
		if err != nil {
			st.remove()
			st = nil
		}
	}()
	if err := copyFile(filepath.Join(repo, exampleStorePath), st.db); err != nil {
		return nil, fmt.Errorf("bench registry: %w", err)
	}
	wide, err := onnxgen.WideMLP()
	if err != nil {
		return nil, fmt.Errorf("bench registry: %w", err)
	}
	if err := onnxgen.WriteDir(st.wideDir, wide.Files); err != nil {
		return nil, fmt.Errorf("bench registry: %s: %w", wideModel, err)
	}
	for _, mv := range []modelVersion{
		{
			Name:        mlpModel,
			Version:     1,
			Description: "MLP float32 [N,256] -> 512 -> 512 -> 1 (testdata/models/mlp256), registered by the benchmark harness.",
			Source:      fileURI(filepath.Join(repo, mlpModelDir)),
			Alias:       benchAlias,
			Created:     now,
		},
		{
			Name:        wideModel,
			Version:     1,
			Description: "MLP float32 [N,64] -> 2048 -> 2048 -> 2048 -> 1 (internal/onnxgen widemlp), generated and registered by the benchmark harness.",
			Source:      fileURI(st.wideDir),
			Alias:       benchAlias,
			Created:     now,
		},
	} {
		if err := registerModelVersion(ctx, st.db, mv); err != nil {
			return nil, err
		}
	}
	st.configText = mlgateConfig(st.db, filepath.Join(repo, exampleArtifacts), st.cacheDir(), st.allowedRoots(repo))
	if err := os.WriteFile(st.config, []byte(st.configText), 0o644); err != nil {
		return nil, fmt.Errorf("bench registry: %w", err)
	}
	return st, nil
}

// cacheDir is mlgate's artifact cache.
func (st *benchStore) cacheDir() string { return filepath.Join(st.dir, "cache") }

// allowedRoots are the local directories mlgate may read artifacts from:
// the example registry's artifacts, its cache, and the directories of the
// registered fixtures (mlgate reads only those by default).
func (st *benchStore) allowedRoots(repo string) []string {
	return []string{filepath.Join(repo, exampleArtifacts), st.cacheDir(), filepath.Join(repo, mlpModelDir), st.wideDir}
}

// remove deletes the store's temporary directory.
func (st *benchStore) remove() error { return os.RemoveAll(st.dir) }

// mlgateConfig is the configuration of every mlgate the harness starts:
// the store at db, artifacts read from the allowed roots only, routes
// churn (the default), mlp and wide, no drain delay so that a stopped
// instance exits at once. The listen address, the log level and the
// settings each instance varies are flags.
func mlgateConfig(db, artifacts, cache string, allowedRoots []string) string {
	roots := make([]string, len(allowedRoots))
	for i, r := range allowedRoots {
		roots[i] = strconv.Quote(r)
	}
	return "# Generated by bench/run for one benchmark run.\n" +
		"tracking_uri: " + strconv.Quote("sqlite:///"+filepath.ToSlash(db)) + "\n" +
		"artifacts_root: " + strconv.Quote(artifacts) + "\n" +
		"artifacts:\n" +
		"  allowed_roots: [" + strings.Join(roots, ", ") + "]\n" +
		"cache_dir: " + strconv.Quote(cache) + "\n" +
		"drain_delay: 0s\n" +
		"routes:\n" +
		"  - name: " + churnRoute + "\n" +
		"    model: models:/" + churnModel + "@" + benchAlias + "\n" +
		"  - name: " + mlpRoute + "\n" +
		"    model: models:/" + mlpModel + "@" + benchAlias + "\n" +
		"  - name: " + wideRoute + "\n" +
		"    model: models:/" + wideModel + "@" + benchAlias + "\n"
}

// checkResolve runs `mlgate resolve --json` on mlp256's and widemlp's
// aliases against the store and checks that each names version 1 with the
// model's directory as its artifacts.
func (st *benchStore) checkResolve(ctx context.Context, mlgate, repo string) error {
	for _, m := range []struct{ name, dir string }{
		{mlpModel, filepath.Join(repo, mlpModelDir)},
		{wideModel, st.wideDir},
	} {
		if err := st.checkResolveOne(ctx, mlgate, repo, m.name, m.dir); err != nil {
			return err
		}
	}
	return nil
}

func (st *benchStore) checkResolveOne(ctx context.Context, mlgate, repo, model, dir string) error {
	uri := "models:/" + model + "@" + benchAlias
	cmd := exec.CommandContext(ctx, mlgate, "resolve", uri, "--json",
		"--tracking-uri", "sqlite:///"+filepath.ToSlash(st.db),
		"--artifacts-root", filepath.Join(repo, exampleArtifacts),
		"--artifacts-allowed-roots", strings.Join(st.allowedRoots(repo), ","),
		"--cache-dir", st.cacheDir())
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = strings.TrimSpace(string(ee.Stderr))
		}
		return fmt.Errorf("mlgate resolve %s: %w: %s", uri, err, stderr)
	}
	var got struct {
		Name        string `json:"name"`
		Version     string `json:"version"`
		Status      string `json:"status"`
		ArtifactURI string `json:"artifact_uri"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		return fmt.Errorf("mlgate resolve %s: %w: %s", uri, err, out)
	}
	want := fileURI(dir)
	if got.Name != model || got.Version != "1" || got.Status != "READY" || got.ArtifactURI != want {
		return fmt.Errorf("mlgate resolve %s: got %s version %s, %s, artifacts %s; want %s version 1, READY, artifacts %s",
			uri, got.Name, got.Version, got.Status, got.ArtifactURI, model, want)
	}
	return nil
}

// fileURI returns the file:// URI of an absolute path.
func fileURI(path string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return out.Close()
}
