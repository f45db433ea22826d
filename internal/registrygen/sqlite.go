package registrygen

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/mlgate/mlgate/internal/testutil"
)

// experimentID is the example store's experiment (churn-prediction-v2) that
// the generated runs and LoggedModels belong to, as the fake's do.
const experimentID = 1

// SQLiteStore copies the example MLflow store (examples/registry/mlflow.db
// and its artifacts, mlartifacts) into dir and registers models in the
// copy the way MLflow 3.5's mlflow.onnx.log_model followed by
// register_model does: per version a FINISHED run in experiment 1 with its
// system tags, a READY LoggedModel m-<id> whose artifacts are written to
// mlartifacts/1/models/<id>/artifacts, the run-to-model input row, and a
// READY version in stage None with source models:/<id> and storage
// location mlflow-artifacts:/1/models/<id>/artifacts; then the aliases.
// Each version's MLmodel names its own LoggedModel and run. IDs are derived
// from the model name and version, so they are the same on every run.
//
// It returns the store's tracking URI (sqlite:///<dir>/mlflow.db) and
// the artifacts root to pass as mlgate's --artifacts-root; mlgate also
// finds it without the flag, next to mlflow.db. The models must not exist
// in the example store (churn-gbm, churn-sk); any failure fails the test.
func SQLiteStore(tb testing.TB, dir string, models []Model) (trackingURI, artifactsRoot string) {
	tb.Helper()
	db := filepath.Join(dir, "mlflow.db")
	artifactsRoot = filepath.Join(dir, "mlartifacts")
	example := testutil.Path(tb, "examples", "registry")
	data, err := os.ReadFile(filepath.Join(example, "mlflow.db"))
	if err != nil {
		tb.Fatalf("registrygen: %v", err)
	}
	if err := os.WriteFile(db, data, 0o644); err != nil {
		tb.Fatalf("registrygen: %v", err)
	}
	if err := os.CopyFS(artifactsRoot, os.DirFS(filepath.Join(example, "mlartifacts"))); err != nil {
		tb.Fatalf("registrygen: copy the example artifacts: %v", err)
	}
	if err := register(tb, db, artifactsRoot, models); err != nil {
		tb.Fatalf("registrygen: register in %s: %v", db, err)
	}
	return "sqlite:///" + db, artifactsRoot
}

// SetAliasSQLite points alias of model name at version in the store at
// trackingURI (a URI SQLiteStore returned), as MLflow's
// set_registered_model_alias does: an upsert, after checking that the
// version exists. It fails the test otherwise.
func SetAliasSQLite(tb testing.TB, trackingURI, name, alias string, version int) {
	tb.Helper()
	p, ok := strings.CutPrefix(trackingURI, "sqlite:///")
	if !ok {
		tb.Fatalf("registrygen: SetAliasSQLite: %q is not a sqlite:/// URI", trackingURI)
	}
	db, err := openRW(p)
	if err != nil {
		tb.Fatalf("registrygen: %v", err)
	}
	defer db.Close()
	var one int
	err = db.QueryRow(`SELECT 1 FROM model_versions WHERE name = ? AND version = ? AND current_stage <> 'Deleted_Internal'`,
		name, version).Scan(&one)
	if err != nil {
		tb.Fatalf("registrygen: SetAliasSQLite(%s, %s, %d): model version: %v", name, alias, version, err)
	}
	if _, err := db.Exec(`INSERT INTO registered_model_aliases (alias, version, name) VALUES (?, ?, ?)
		ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version`, alias, version, name); err != nil {
		tb.Fatalf("registrygen: SetAliasSQLite(%s, %s, %d): %v", name, alias, version, err)
	}
}

// openRW opens an SQLite file read-write with foreign keys enforced, as
// MLflow's SQLAlchemy store does.
func openRW(path string) (*sql.DB, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)"
	return sql.Open("sqlite", dsn)
}

// id returns 32 hex digits derived from what and the version's identity: a
// stable stand-in for the uuid4().hex IDs MLflow generates.
func id(what, name string, version int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "mlgate/registrygen/%s/%s/%d", what, name, version))
	return hex.EncodeToString(sum[:16])
}

// register inserts models into the store at dbPath in one transaction and
// writes their artifacts under artifactsRoot.
func register(tb testing.TB, dbPath, artifactsRoot string, models []Model) (err error) {
	tb.Helper()
	db, err := openRW(dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	var last sql.NullInt64
	if err := tx.QueryRow(`SELECT max(last_updated_time) FROM model_versions`).Scan(&last); err != nil {
		return err
	}
	ts := max(time.Now().UnixMilli(), last.Int64+1)
	for _, m := range models {
		if err := registerModel(tb, tx, artifactsRoot, m, &ts); err != nil {
			return fmt.Errorf("model %s: %w", m.Name, err)
		}
	}
	return tx.Commit()
}

// registerModel inserts one registered model, its versions and aliases;
// *ts is the clock, in milliseconds, advanced by every row.
func registerModel(tb testing.TB, tx *sql.Tx, artifactsRoot string, m Model, ts *int64) error {
	tb.Helper()
	tick := func() int64 { *ts++; return *ts }
	created := tick()
	if _, err := tx.Exec(`INSERT INTO registered_models (name, creation_time, last_updated_time, description) VALUES (?, ?, ?, ?)`,
		m.Name, created, created, m.Description); err != nil {
		return err
	}
	updated := created
	for i, v := range m.Versions {
		n := i + 1
		runID, modelID := id("run", m.Name, n), "m-"+id("model", m.Name, n)
		loc := fmt.Sprintf("mlflow-artifacts:/%d/models/%s/artifacts", experimentID, modelID)
		files := Files(tb, v.Kind)
		mlmodel, err := relabelMLmodel(files["MLmodel"], modelID, runID, loc)
		if err != nil {
			return fmt.Errorf("version %d: %w", n, err)
		}
		files["MLmodel"] = mlmodel
		dir := filepath.Join(artifactsRoot, strconv.Itoa(experimentID), "models", modelID, "artifacts")
		for name, data := range files {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return err
			}
		}
		runName := fmt.Sprintf("%s-v%d", m.Name, n)
		start, lmCreated, lmUpdated, end, mvCreated := tick(), tick(), tick(), tick(), tick()
		updated = mvCreated
		// The NULLs and empty strings are those of the example store's rows;
		// mlflow.modelVersions is Python's json.dumps of the list (%q
		// writes the same for the ASCII names models have).
		stmts := []struct {
			q    string
			args []any
		}{
			{`INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time, end_time,
				source_version, lifecycle_stage, artifact_uri, experiment_id, deleted_time)
			VALUES (?, ?, 'UNKNOWN', '', '', 'registrygen', 'FINISHED', ?, ?, '', 'active', ?, ?, NULL)`,
				[]any{runID, runName, start, end, fmt.Sprintf("mlflow-artifacts:/%d/%s/artifacts", experimentID, runID), experimentID}},
			{`INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.user', 'registrygen', ?), ('mlflow.source.name', 'registrygen.go', ?),
				('mlflow.source.type', 'LOCAL', ?), ('mlflow.runName', ?, ?)`,
				[]any{runID, runID, runID, runName, runID}},
			{`INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_timestamp_ms, last_updated_timestamp_ms,
				status, lifecycle_stage, model_type, source_run_id, status_message)
			VALUES (?, ?, 'model', ?, ?, ?, 2, 'active', '', ?, NULL)`,
				[]any{modelID, experimentID, loc, lmCreated, lmUpdated, runID}},
			{`INSERT INTO logged_model_tags (model_id, experiment_id, tag_key, tag_value) VALUES (?, ?, 'mlflow.user', 'registrygen'),
				(?, ?, 'mlflow.source.name', 'registrygen.go'), (?, ?, 'mlflow.source.type', 'LOCAL'), (?, ?, 'mlflow.modelVersions', ?)`,
				[]any{modelID, experimentID, modelID, experimentID, modelID, experimentID, modelID, experimentID,
					fmt.Sprintf(`[{"name": %q, "version": %d}, {"name": %q, "version": "%d"}]`, m.Name, n, m.Name, n)}},
			{`INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id, step)
			VALUES (?, 'RUN_OUTPUT', ?, 'MODEL_OUTPUT', ?, 0)`,
				[]any{id("input", m.Name, n), runID, modelID}},
			{`INSERT INTO model_versions (name, version, creation_time, last_updated_time, description, user_id, current_stage,
				source, run_id, status, status_message, run_link, storage_location)
			VALUES (?, ?, ?, ?, ?, NULL, 'None', ?, ?, 'READY', NULL, '', ?)`,
				[]any{m.Name, n, mvCreated, mvCreated, v.Description, "models:/" + modelID, runID, loc}},
		}
		for _, s := range stmts {
			if _, err := tx.Exec(s.q, s.args...); err != nil {
				return fmt.Errorf("version %d: %w", n, err)
			}
		}
	}
	if _, err := tx.Exec(`UPDATE registered_models SET last_updated_time = ? WHERE name = ?`, updated, m.Name); err != nil {
		return err
	}
	for alias, v := range m.Aliases {
		if v < 1 || v > len(m.Versions) {
			return fmt.Errorf("alias %s: no version %d", alias, v)
		}
		if _, err := tx.Exec(`INSERT INTO registered_model_aliases (alias, version, name) VALUES (?, ?, ?)`, alias, v, m.Name); err != nil {
			return err
		}
	}
	return nil
}

// relabelMLmodel returns a fixture's MLmodel naming the LoggedModel modelID
// (model_id, model_uuid), its artifact location loc (artifact_path) and
// the run runID instead of the fixture's stand-ins.
func relabelMLmodel(mlmodel []byte, modelID, runID, loc string) ([]byte, error) {
	text := string(mlmodel)
	field := func(key string) string {
		for line := range strings.Lines(text) {
			if v, ok := strings.CutPrefix(line, key+": "); ok {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	oldModel, oldRun, oldLoc := field("model_id"), field("run_id"), field("artifact_path")
	if oldModel == "" || oldRun == "" || oldLoc == "" {
		return nil, errors.New("MLmodel has no model_id, run_id or artifact_path")
	}
	text = strings.NewReplacer("artifact_path: "+oldLoc+"\n", "artifact_path: "+loc+"\n",
		"model_id: "+oldModel+"\n", "model_id: "+modelID+"\n",
		"model_uuid: "+oldModel+"\n", "model_uuid: "+modelID+"\n",
		"run_id: "+oldRun+"\n", "run_id: "+runID+"\n").Replace(text)
	return []byte(text), nil
}
