package resolver

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Well-known run tags and dataset input tags that make up a version's
// lineage. MLflow sets the mlflow.* tags itself (mlflow run sets the
// project ones); dvc_data_hash is a plain user tag, since MLflow has no DVC
// convention of its own.
const (
	TagGitRepoURL     = "mlflow.source.git.repoURL"
	TagSourceName     = "mlflow.source.name"
	TagSourceType     = "mlflow.source.type"
	TagEntryPoint     = "mlflow.project.entryPoint"
	TagUser           = "mlflow.user"
	TagDVCDataHash    = "dvc_data_hash"
	TagDatasetContext = "mlflow.data.context"
)

// Run is an MLflow tracking run as runs/get returns it: its info, its
// tags and params, the latest value of each metric and its dataset inputs.
// A Run is not modified once returned.
type Run struct {
	ID           string
	ExperimentID string
	Name         string
	// Status is RUNNING, SCHEDULED, FINISHED, FAILED or KILLED.
	Status string
	// UserID is the run's user_id.
	UserID string
	// StartTime and EndTime are milliseconds since the Unix epoch; 0 when
	// not set (EndTime while the run is still running).
	StartTime int64
	EndTime   int64
	// LifecycleStage is "active" or "deleted".
	LifecycleStage string
	ArtifactURI    string
	// Tags are every tag of the run, mlflow.* system tags included.
	Tags map[string]string
	// Params are the logged params.
	Params map[string]string
	// Metrics holds the latest value of each metric (MLflow's
	// latest_metrics: highest step, then newest timestamp), sorted by key.
	Metrics []Metric
	// Datasets are the dataset inputs logged with mlflow.log_input, sorted
	// by name, digest and context.
	Datasets []DatasetInput
}

// Metric is the latest value of one metric of a run.
type Metric struct {
	Key       string `json:"key"`
	Value     Float  `json:"value"`
	Step      int64  `json:"step"`
	Timestamp int64  `json:"timestamp"`
}

// DatasetInput is one dataset logged as a run's input (mlflow.log_input).
type DatasetInput struct {
	Name string `json:"name"`
	// Digest is MLflow's hash of the dataset's content (8 hex characters
	// for a pandas DataFrame); it does not depend on Source.
	Digest string `json:"digest"`
	// SourceType is the kind of source: s3, http, local, hugging_face, ...
	SourceType string `json:"source_type"`
	// Source is MLflow's JSON description of where the data came from, as
	// logged, e.g. {"uri": "s3://bucket/key"}; SourceURI is its "uri"
	// field, when it has one.
	Source    string `json:"source"`
	SourceURI string `json:"source_uri,omitempty"`
	// Context is the input's mlflow.data.context tag ("training",
	// "validation", ...); empty when none was given.
	Context string `json:"context,omitempty"`
}

// Experiment is the part of an MLflow experiment the lineage names.
type Experiment struct {
	ID             string
	Name           string
	LifecycleStage string
}

// sourceURI returns the "uri" field of a dataset source's JSON, or "".
func sourceURI(source string) string {
	var s struct {
		URI string `json:"uri"`
	}
	if json.Unmarshal([]byte(source), &s) != nil {
		return ""
	}
	return s.URI
}

// Float is a float64 that reads and writes JSON as MLflow's protobuf JSON
// does: a number, or the strings "NaN", "Infinity" and "-Infinity".
type Float float64

// MarshalJSON writes f as a number, or as a string when it is not finite.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Infinity"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON reads a number or one of the strings MarshalJSON writes.
func (f *Float) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		switch s {
		case "NaN":
			*f = Float(math.NaN())
		case "Infinity":
			*f = Float(math.Inf(1))
		case "-Infinity":
			*f = Float(math.Inf(-1))
		default:
			return fmt.Errorf("metric value %q is not a number", s)
		}
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}
