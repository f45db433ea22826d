package resolver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// sqliteBusyTimeout is how long a read waits for another process's write
// lock before failing.
const sqliteBusyTimeout = 5 * time.Second

// loggedModelStatuses maps the integer status column of logged_models to the
// names MLflow's REST API uses.
var loggedModelStatuses = map[int64]string{
	0: "LOGGED_MODEL_STATUS_UNSPECIFIED",
	1: "LOGGED_MODEL_PENDING",
	2: LoggedModelReady,
	3: "LOGGED_MODEL_UPLOAD_FAILED",
}

// sqliteRegistry reads an MLflow SQLite backend store directly, read-only.
// Every call queries the file again inside one read transaction, so changes
// another process commits between calls are seen by the next call. It is
// safe for concurrent use.
type sqliteRegistry struct {
	db            *sql.DB
	uri           string
	timeout       time.Duration
	artifactsRoot string // "", an absolute directory, or s3://bucket/prefix
	artifacts     *artifactOpener
}

var _ Registry = (*sqliteRegistry)(nil)

// sqlitePath returns the file path of an SQLAlchemy SQLite URL:
// sqlite:///relative/path.db (relative to the working directory) or
// sqlite:////absolute/path.db.
func sqlitePath(raw string) (string, error) {
	const prefix = "sqlite://"
	if len(raw) < len(prefix) || !strings.EqualFold(raw[:len(prefix)], prefix) {
		return "", fmt.Errorf("store URI %q is not sqlite://: %w", Redact(raw), ErrInvalid)
	}
	rest := raw[len(prefix):]
	if strings.ContainsAny(rest, "?#") {
		return "", fmt.Errorf("store URI %q: query parameters are not supported: %w", Redact(raw), ErrInvalid)
	}
	if !strings.HasPrefix(rest, "/") || len(rest) == 1 || rest[1:] == ":memory:" {
		return "", fmt.Errorf("store URI %q: want sqlite:///relative/path.db or sqlite:////absolute/path.db: %w", Redact(raw), ErrInvalid)
	}
	p, err := filepath.Abs(rest[1:])
	if err != nil {
		return "", fmt.Errorf("store URI %q: %w", Redact(raw), withKind(ErrInvalid, err))
	}
	return p, nil
}

// newSQLite opens an MLflow SQLite store read-only (mode=ro, query_only,
// busy timeout) and checks that it holds MLflow's registry tables.
func newSQLite(ctx context.Context, raw string, cfg Config, hc *httpClient, roots []string) (*sqliteRegistry, error) {
	p, err := sqlitePath(raw)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("sqlite store %s: %w", Redact(raw), withKind(ErrInvalid, err))
	}
	r := &sqliteRegistry{uri: Redact(raw), timeout: cfg.Timeout}
	if r.artifactsRoot, err = artifactsRoot(cfg.ArtifactsRoot); err != nil {
		return nil, err
	}
	dsn := "file:" + (&url.URL{Path: p}).EscapedPath() +
		"?mode=ro&_query_only=1&_busy_timeout=" + strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10)
	r.db, err = sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite store %s: %w", Redact(raw), withKind(ErrInvalid, err))
	}
	r.db.SetMaxOpenConns(4)
	r.db.SetConnMaxIdleTime(time.Minute)
	cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	for _, table := range []string{"registered_models", "model_versions", "registered_model_aliases", "runs"} {
		if _, err := r.db.ExecContext(cctx, "SELECT 1 FROM "+table+" LIMIT 1"); err != nil {
			r.db.Close()
			return nil, fmt.Errorf("sqlite store %s is not an MLflow 2.3+ store (no usable table %s): %w", Redact(raw), table, withKind(ErrInvalid, err))
		}
	}
	r.artifacts = newArtifactOpener(hc, cfg.S3, cfg.Timeout, roots, r.mlflowArtifacts)
	return r, nil
}

// artifactsRoot normalises Config.ArtifactsRoot: an s3:// URI is kept, a
// file: URI or path becomes an absolute directory.
func artifactsRoot(root string) (string, error) {
	switch {
	case root == "":
		return "", nil
	case strings.HasPrefix(root, "s3://"):
		return strings.TrimRight(root, "/"), nil
	case strings.HasPrefix(root, "file:"):
		u, err := url.Parse(root)
		if err != nil || (u.Host != "" && u.Host != "localhost") {
			return "", fmt.Errorf("resolver config: ArtifactsRoot %q: want a directory, file:///dir or s3://bucket/prefix: %w", Redact(root), ErrInvalid)
		}
		root = u.Path
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("resolver config: ArtifactsRoot %q: %w", Redact(root), withKind(ErrInvalid, err))
	}
	return abs, nil
}

func (r *sqliteRegistry) String() string { return r.uri }

// read runs fn inside one read transaction bounded by the timeout.
func (r *sqliteRegistry) read(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return r.dbError(err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to keep
	return fn(ctx, tx)
}

// dbError classifies a database failure that is not "no rows".
func (r *sqliteRegistry) dbError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("sqlite store %s: %w", r.uri, withKind(ErrUnavailable, err))
}

// Version resolves an alias, version, latest or stage URI.
func (r *sqliteRegistry) Version(ctx context.Context, u URI) (*ModelVersion, error) {
	var mv *ModelVersion
	err := r.read(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var version int64
		switch {
		case u.isLatestAlias() || u.Kind == KindLatest || u.Kind == KindStage:
			v, err := r.latestVersion(ctx, tx, u.Name, u.Stage)
			if err != nil {
				return err
			}
			version = v
		case u.Kind == KindAlias:
			err := tx.QueryRowContext(ctx, `SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?`,
				u.Name, u.Alias).Scan(&version)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("registered model alias %s not found in %s: %w", u.Alias, r.uri, ErrNotFound)
			}
			if err != nil {
				return r.dbError(err)
			}
		case u.Kind == KindVersion:
			version = u.Version
		default:
			return fmt.Errorf("not a registry URI: %w", ErrInvalid)
		}
		var err error
		mv, err = r.modelVersion(ctx, tx, u.Name, version)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return mv, nil
}

// latestVersion returns the highest non-deleted version, within a stage
// when stage is not "".
func (r *sqliteRegistry) latestVersion(ctx context.Context, tx *sql.Tx, name, stage string) (int64, error) {
	q := `SELECT max(version) FROM model_versions WHERE name = ? AND COALESCE(current_stage, 'None') <> 'Deleted_Internal'`
	args := []any{name}
	if stage != "" {
		q += ` AND lower(COALESCE(current_stage, 'None')) = lower(?)`
		args = append(args, stage)
	}
	var v sql.NullInt64
	if err := tx.QueryRowContext(ctx, q, args...).Scan(&v); err != nil {
		return 0, r.dbError(err)
	}
	if v.Valid {
		return v.Int64, nil
	}
	if err := r.modelExists(ctx, tx, name); err != nil {
		return 0, err
	}
	if stage != "" {
		return 0, fmt.Errorf("model %s has no version in stage %s in %s: %w", name, stage, r.uri, ErrNotFound)
	}
	return 0, fmt.Errorf("model %s has no versions in %s: %w", name, r.uri, ErrNotFound)
}

func (r *sqliteRegistry) modelExists(ctx context.Context, tx *sql.Tx, name string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM registered_models WHERE name = ?`, name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("registered model %s not found in %s: %w", name, r.uri, ErrNotFound)
	}
	if err != nil {
		return r.dbError(err)
	}
	return nil
}

func (r *sqliteRegistry) modelVersion(ctx context.Context, tx *sql.Tx, name string, version int64) (*ModelVersion, error) {
	mv := &ModelVersion{Name: name, Version: strconv.FormatInt(version, 10)}
	err := tx.QueryRowContext(ctx, `
		SELECT COALESCE(creation_time, 0), COALESCE(last_updated_time, 0), COALESCE(current_stage, 'None'),
		       COALESCE(description, ''), COALESCE(source, ''), COALESCE(run_id, ''),
		       COALESCE(status, ''), COALESCE(status_message, '')
		FROM model_versions
		WHERE name = ? AND version = ? AND COALESCE(current_stage, 'None') <> 'Deleted_Internal'`,
		name, version).Scan(&mv.CreationTimestamp, &mv.LastUpdatedTimestamp, &mv.CurrentStage,
		&mv.Description, &mv.Source, &mv.RunID, &mv.Status, &mv.StatusMessage)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("model %s version %d not found in %s: %w", name, version, r.uri, ErrNotFound)
	}
	if err != nil {
		return nil, r.dbError(err)
	}
	if mv.Tags, err = r.pairs(ctx, tx, `SELECT key, value FROM model_version_tags WHERE name = ? AND version = ?`, name, version); err != nil {
		return nil, err
	}
	aliases, err := r.pairs(ctx, tx, `SELECT alias, '' FROM registered_model_aliases WHERE name = ? AND version = ?`, name, version)
	if err != nil {
		return nil, err
	}
	for a := range aliases {
		mv.Aliases = append(mv.Aliases, a)
	}
	slices.Sort(mv.Aliases)
	return mv, nil
}

// pairs runs a two-column query into a map.
func (r *sqliteRegistry) pairs(ctx context.Context, tx *sql.Tx, q string, args ...any) (map[string]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, r.dbError(err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k string
		var v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return nil, r.dbError(err)
		}
		m[k] = v.String
	}
	if err := rows.Err(); err != nil {
		return nil, r.dbError(err)
	}
	return m, nil
}

// DownloadURI returns storage_location, else source, as MLflow's
// get-download-uri does.
func (r *sqliteRegistry) DownloadURI(ctx context.Context, name, version string) (string, error) {
	v, err := strconv.ParseInt(version, 10, 64)
	if err != nil {
		return "", fmt.Errorf("model %s version %q: not an integer: %w", name, version, ErrInvalid)
	}
	var uri string
	err = r.read(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `
			SELECT COALESCE(NULLIF(storage_location, ''), source, '') FROM model_versions
			WHERE name = ? AND version = ? AND COALESCE(current_stage, 'None') <> 'Deleted_Internal'`, name, v).Scan(&uri)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("model %s version %d not found in %s: %w", name, v, r.uri, ErrNotFound)
		}
		if err != nil {
			return r.dbError(err)
		}
		if uri == "" {
			return fmt.Errorf("model %s version %d in %s has neither storage_location nor source: %w", name, v, r.uri, ErrInvalid)
		}
		return nil
	})
	return uri, err
}

// RegisteredModel reads registered_models with its tags and aliases.
func (r *sqliteRegistry) RegisteredModel(ctx context.Context, name string) (*RegisteredModel, error) {
	rm := &RegisteredModel{Name: name}
	err := r.read(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT COALESCE(description, '') FROM registered_models WHERE name = ?`, name).Scan(&rm.Description)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("registered model %s not found in %s: %w", name, r.uri, ErrNotFound)
		}
		if err != nil {
			return r.dbError(err)
		}
		if rm.Tags, err = r.pairs(ctx, tx, `SELECT key, value FROM registered_model_tags WHERE name = ?`, name); err != nil {
			return err
		}
		rm.Aliases, err = r.pairs(ctx, tx, `SELECT alias, CAST(version AS TEXT) FROM registered_model_aliases WHERE name = ?`, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rm, nil
}

// LoggedModel reads logged_models and its tags. A deleted LoggedModel, or a
// store without the MLflow 3 logged_models table, is ErrNotFound.
func (r *sqliteRegistry) LoggedModel(ctx context.Context, id string) (*LoggedModel, error) {
	lm := &LoggedModel{ID: id}
	err := r.read(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var status int64
		var stage string
		err := tx.QueryRowContext(ctx, `
			SELECT CAST(experiment_id AS TEXT), name, artifact_location, creation_timestamp_ms, status,
			       COALESCE(lifecycle_stage, 'active'), COALESCE(source_run_id, '')
			FROM logged_models WHERE model_id = ?`, id).Scan(&lm.ExperimentID, &lm.Name, &lm.ArtifactURI,
			&lm.CreationTimestampMs, &status, &stage, &lm.SourceRunID)
		if errors.Is(err, sql.ErrNoRows) || stage == "deleted" {
			return fmt.Errorf("logged model %s not found in %s: %w", id, r.uri, ErrNotFound)
		}
		if err != nil {
			if strings.Contains(err.Error(), "no such table") {
				return fmt.Errorf("logged model %s: %s has no logged_models table (MLflow 2 schema): %w", id, r.uri, withKind(ErrNotFound, err))
			}
			return r.dbError(err)
		}
		lm.Status = loggedModelStatuses[status]
		if lm.Status == "" {
			lm.Status = "LOGGED_MODEL_STATUS_" + strconv.FormatInt(status, 10)
		}
		lm.Tags, err = r.pairs(ctx, tx, `SELECT tag_key, tag_value FROM logged_model_tags WHERE model_id = ?`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return lm, nil
}

// Artifacts opens an artifact URI; mlflow-artifacts: URIs are read from
// Config.ArtifactsRoot.
func (r *sqliteRegistry) Artifacts(artifactURI string) (ArtifactStore, error) {
	return r.artifacts.open(artifactURI)
}

// mlflowArtifacts maps mlflow-artifacts:/<path> to ArtifactsRoot/<path>.
func (r *sqliteRegistry) mlflowArtifacts(_, p string) (ArtifactStore, error) {
	display := "mlflow-artifacts:/" + p
	switch {
	case r.artifactsRoot == "":
		return nil, fmt.Errorf("artifact URI %s: reading mlflow-artifacts: from %s needs the MLflow server's --artifacts-destination; pass it as --artifacts-root (Config.ArtifactsRoot): %w",
			display, r.uri, ErrInvalid)
	case strings.HasPrefix(r.artifactsRoot, "s3://"):
		u, _ := url.Parse(r.artifactsRoot + "/" + p)
		return r.artifacts.newS3Store(u.Host, u.Path, display)
	default:
		rel := "."
		if p != "" {
			rel = filepath.FromSlash(p)
		}
		return openLocalStore(r.artifactsRoot, rel, display)
	}
}

// Close closes the database and idle connections.
func (r *sqliteRegistry) Close() error {
	r.artifacts.close()
	return r.db.Close()
}
