package resolver

import (
	"fmt"
	"strconv"
	"time"
)

// LinkState records what a provenance lookup (run or LoggedModel) found.
// Provenance lookups never fail a resolution on their own.
type LinkState string

// Link states.
const (
	// LinkNone means there was no ID to look up.
	LinkNone LinkState = "none"
	// LinkFound means the run or LoggedModel was read.
	LinkFound LinkState = "found"
	// LinkDeleted means the run exists with lifecycle_stage "deleted".
	LinkDeleted LinkState = "deleted"
	// LinkMissing means the registry answered "not found" (for example a
	// run purged by mlflow gc).
	LinkMissing LinkState = "missing"
	// LinkUnauthorized means the credentials may not read it.
	LinkUnauthorized LinkState = "unauthorized"
)

// Where Resolution.RunID came from. Resolve sets the first two; a caller
// that takes the run ID from the version's MLmodel file sets
// RunIDFromMLmodel.
const (
	RunIDFromModelVersion = "model_version"
	RunIDFromLoggedModel  = "logged_model"
	RunIDFromMLmodel      = "mlmodel"
)

// Resolution is the full answer for one models:/ URI at one moment: the
// version it pointed at, where its artifacts are, and its provenance. It is
// a plain value, safe to copy and to share read-only.
type Resolution struct {
	// URI is what was resolved.
	URI URI `json:"uri"`
	// Name and Version identify the registry version; both are empty for a
	// models:/m-<id> URI.
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	// ModelID is the MLflow 3 LoggedModel ID (m-<32 hex>), parsed from the
	// version's source; empty for versions registered from other sources.
	ModelID string `json:"model_id,omitempty"`
	// Stage is the version's current stage (None, Staging, Production,
	// Archived); empty for a LoggedModel.
	Stage string `json:"stage,omitempty"`
	// Aliases lists the aliases pointing at the version when it was
	// resolved, sorted.
	Aliases []string `json:"aliases,omitempty"`
	// Status is READY (or LOGGED_MODEL_READY for a LoggedModel).
	Status string `json:"status"`
	// CreationTimestamp is when the version (or LoggedModel) was created,
	// in milliseconds since the Unix epoch.
	CreationTimestamp int64 `json:"creation_timestamp"`
	// Source is the version's source as registered.
	Source string `json:"source,omitempty"`
	// ArtifactURI is the concrete directory to download (runs:/ and
	// models:/ indirections already followed).
	ArtifactURI string `json:"artifact_uri"`
	// RunID is the version's run_id, else the LoggedModel's source_run_id;
	// RunIDFrom says which. When RunID is empty or came from the
	// LoggedModel, the caller should prefer the run_id in the MLmodel file.
	RunID     string `json:"run_id,omitempty"`
	RunIDFrom string `json:"run_id_from,omitempty"`
	// ExperimentID is the run's experiment, else the LoggedModel's; empty
	// when neither was read.
	ExperimentID string `json:"experiment_id,omitempty"`
	// GitCommit is the run's mlflow.source.git.commit tag, else the
	// LoggedModel's.
	GitCommit string `json:"git_commit,omitempty"`
	// DataVersion is the version of the data the run trained on: its
	// dvc_data_hash tag, else the digest of its training dataset input
	// (see DataVersionOf); empty when the run logged neither or the inputs
	// do not say which one trained it.
	DataVersion string `json:"data_version,omitempty"`
	// RunTags are all the run's tags, mlflow.* system tags included; nil
	// when the run was not read. The map must not be modified.
	RunTags map[string]string `json:"run_tags,omitempty"`
	// Run and LoggedModel record what the provenance lookups found.
	Run         LinkState `json:"run"`
	LoggedModel LinkState `json:"logged_model"`
	// ResolvedAt is when the registry was asked.
	ResolvedAt time.Time `json:"resolved_at"`

	// run is the run as Resolve read it, for Lineage; nil when it was not
	// read or the Resolution was loaded from the cache.
	run *Run
}

// Key returns the immutable identity of the resolved artifacts: model name,
// version, creation timestamp and artifact URI (a LoggedModel uses its ID).
// The pair (name, version) alone can be reused after a model is deleted and
// re-created; the creation timestamp and artifact URI tell them apart.
func (r *Resolution) Key() string {
	if r.Name == "" {
		return fmt.Sprintf("logged-model %s created %d at %s", r.ModelID, r.CreationTimestamp, strconv.Quote(r.ArtifactURI))
	}
	return fmt.Sprintf("model %s version %s created %d at %s", strconv.Quote(r.Name), r.Version, r.CreationTimestamp, strconv.Quote(r.ArtifactURI))
}

// String names the URI and what it resolved to, for messages.
func (r *Resolution) String() string {
	if r.Name == "" {
		return r.URI.String()
	}
	return fmt.Sprintf("%s (model %s version %s)", r.URI, r.Name, r.Version)
}
