package resolver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxRunBytes bounds what one Run reads from a SQLite store (keys, values
// and dataset sources together), as maxJSONBody bounds runs/get's answer.
const maxRunBytes = maxJSONBody

// runBudget counts the bytes a Run has read against maxRunBytes.
type runBudget struct {
	runID string
	left  int
}

func (b *runBudget) spend(what string, s ...string) error {
	for _, v := range s {
		b.left -= len(v) + 16 // about what the value costs in runs/get's JSON
	}
	if b.left < 0 {
		return fmt.Errorf("run %s: more than %d bytes of tags, params, metrics and dataset inputs (at %s): %w", b.runID, maxRunBytes, what, ErrInvalid)
	}
	return nil
}

// Run reads runs with the run's tags, params, latest metrics and dataset
// inputs, inside one read transaction.
func (r *sqliteRegistry) Run(ctx context.Context, runID string) (*Run, error) {
	run := &Run{ID: runID}
	b := &runBudget{runID: runID, left: maxRunBytes}
	err := r.read(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var start, end sql.NullInt64
		err := tx.QueryRowContext(ctx, `
			SELECT COALESCE(CAST(experiment_id AS TEXT), ''), COALESCE(name, ''), COALESCE(status, ''),
			       COALESCE(user_id, ''), start_time, end_time,
			       COALESCE(lifecycle_stage, ''), COALESCE(artifact_uri, '')
			FROM runs WHERE run_uuid = ?`, runID).Scan(&run.ExperimentID, &run.Name, &run.Status,
			&run.UserID, &start, &end, &run.LifecycleStage, &run.ArtifactURI)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("run %s not found in %s: %w", runID, r.uri, ErrNotFound)
		}
		if err != nil {
			return r.dbError(err)
		}
		run.StartTime, run.EndTime = start.Int64, end.Int64
		if run.Tags, err = r.runPairs(ctx, tx, b, "tags", `SELECT key, value FROM tags WHERE run_uuid = ?`, runID); err != nil {
			return err
		}
		if run.Params, err = r.runPairs(ctx, tx, b, "params", `SELECT key, value FROM params WHERE run_uuid = ?`, runID); err != nil {
			return err
		}
		if run.Metrics, err = r.latestMetrics(ctx, tx, b, runID); err != nil {
			return err
		}
		run.Datasets, err = r.datasetInputs(ctx, tx, b, runID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// runPairs reads a key/value query into a map within the budget.
func (r *sqliteRegistry) runPairs(ctx context.Context, tx *sql.Tx, b *runBudget, what, q string, args ...any) (map[string]string, error) {
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
		if err := b.spend(what, k, v.String); err != nil {
			return nil, err
		}
		m[k] = v.String
	}
	if err := rows.Err(); err != nil {
		return nil, r.dbError(err)
	}
	return m, nil
}

// latestMetrics reads latest_metrics, as MLflow's SQL store builds a run's
// metrics: NaN where is_nan is set.
func (r *sqliteRegistry) latestMetrics(ctx context.Context, tx *sql.Tx, b *runBudget, runID string) ([]Metric, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT key, value, COALESCE(timestamp, 0), step, is_nan FROM latest_metrics WHERE run_uuid = ? ORDER BY key`, runID)
	if err != nil {
		return nil, r.dbError(err)
	}
	defer rows.Close()
	var out []Metric
	for rows.Next() {
		var m Metric
		var v float64
		var isNaN bool
		if err := rows.Scan(&m.Key, &v, &m.Timestamp, &m.Step, &isNaN); err != nil {
			return nil, r.dbError(err)
		}
		if err := b.spend("metrics", m.Key, "0.000000000000000000"); err != nil {
			return nil, err
		}
		if isNaN {
			v = math.NaN()
		}
		m.Value = Float(v)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, r.dbError(err)
	}
	sortMetrics(out)
	return out, nil
}

// datasetInputs reads the run's dataset inputs: rows of inputs from a
// DATASET to this RUN, their datasets, and their mlflow.data.context input
// tag. A store older than MLflow 2.4 has no such tables, and no inputs.
func (r *sqliteRegistry) datasetInputs(ctx context.Context, tx *sql.Tx, b *runBudget, runID string) ([]DatasetInput, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT d.name, d.digest, d.dataset_source_type, d.dataset_source, COALESCE(t.value, '')
		FROM inputs i
		JOIN datasets d ON d.dataset_uuid = i.source_id
		LEFT JOIN input_tags t ON t.input_uuid = i.input_uuid AND t.name = ?
		WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND i.destination_id = ?`, TagDatasetContext, runID)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil, nil
		}
		return nil, r.dbError(err)
	}
	defer rows.Close()
	var out []DatasetInput
	for rows.Next() {
		var d DatasetInput
		if err := rows.Scan(&d.Name, &d.Digest, &d.SourceType, &d.Source, &d.Context); err != nil {
			return nil, r.dbError(err)
		}
		if err := b.spend("dataset inputs", d.Name, d.Digest, d.SourceType, d.Source, d.Context); err != nil {
			return nil, err
		}
		d.SourceURI = sourceURI(d.Source)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, r.dbError(err)
	}
	sortDatasets(out)
	return out, nil
}

// Experiment reads experiments.
func (r *sqliteRegistry) Experiment(ctx context.Context, id string) (*Experiment, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("experiment %q: not an integer: %w", id, ErrInvalid)
	}
	e := &Experiment{ID: id}
	err = r.read(ctx, func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT name, COALESCE(lifecycle_stage, '') FROM experiments WHERE experiment_id = ?`, n).
			Scan(&e.Name, &e.LifecycleStage)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("experiment %s not found in %s: %w", id, r.uri, ErrNotFound)
		}
		if err != nil {
			return r.dbError(err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}
