package resolver

import (
	"context"
	"regexp"
	"slices"
	"strings"
)

// Registry is one MLflow backend: a tracking server reached over REST, or a
// local SQLite store. Implementations are safe for concurrent use and never
// cache answers, so every call sees the registry as it is now.
type Registry interface {
	// Version returns the model version a registry URI (alias, version,
	// latest or stage) points at now. It does not accept KindLoggedModel.
	Version(ctx context.Context, u URI) (*ModelVersion, error)
	// DownloadURI returns where a version's artifacts live (MLflow's
	// storage_location, else its source).
	DownloadURI(ctx context.Context, name, version string) (string, error)
	// RegisteredModel returns a registered model with its tags and aliases.
	RegisteredModel(ctx context.Context, name string) (*RegisteredModel, error)
	// Run returns a tracking run with its tags, params, latest metrics and
	// dataset inputs, in one call. A purged run is ErrNotFound; a deleted
	// run that has not been purged is returned with LifecycleStage
	// "deleted".
	Run(ctx context.Context, runID string) (*Run, error)
	// Experiment returns a tracking experiment by its ID.
	Experiment(ctx context.Context, id string) (*Experiment, error)
	// LoggedModel returns an MLflow 3 LoggedModel by its m-<id>.
	LoggedModel(ctx context.Context, id string) (*LoggedModel, error)
	// Artifacts opens the artifact store at an artifact URI (a directory).
	Artifacts(artifactURI string) (ArtifactStore, error)
	// Close releases connections. The Registry must not be used afterwards.
	Close() error
}

// Version statuses MLflow uses; only StatusReady may be served.
const (
	StatusReady = "READY"
	// LoggedModelReady is the status of a LoggedModel whose upload finished.
	LoggedModelReady = "LOGGED_MODEL_READY"
)

// Well-known MLflow tag keys.
const (
	// TagGitCommit is the run (and LoggedModel) tag holding the git commit
	// the model was trained from.
	TagGitCommit = "mlflow.source.git.commit"
	// TagIsPrompt marks a registered model that is an MLflow prompt.
	TagIsPrompt = "mlflow.prompt.is_prompt"
)

// ModelVersion is one registered model version as MLflow reports it.
type ModelVersion struct {
	Name    string
	Version string
	// CreationTimestamp and LastUpdatedTimestamp are milliseconds since the
	// Unix epoch.
	CreationTimestamp    int64
	LastUpdatedTimestamp int64
	// CurrentStage is None, Staging, Production or Archived.
	CurrentStage string
	Description  string
	// Source is the URI given at registration; in MLflow 3 usually
	// models:/m-<id>. Do not download from it: use DownloadURI.
	Source string
	// RunID may be empty.
	RunID         string
	Status        string
	StatusMessage string
	Tags          map[string]string
	// Aliases lists the aliases pointing at this version, sorted.
	Aliases []string
}

// ModelID returns the LoggedModel ID linked through Source
// (^models:/(m-[0-9a-f]{32})$), or "" when Source is not such a URI.
func (v *ModelVersion) ModelID() string {
	m := loggedModelSource.FindStringSubmatch(v.Source)
	if m == nil {
		return ""
	}
	return m[1]
}

var loggedModelSource = regexp.MustCompile(`^models:/(m-[0-9a-f]{32})$`)

// RegisteredModel is a registered model with its tags and aliases.
type RegisteredModel struct {
	Name        string
	Description string
	Tags        map[string]string
	// Aliases maps each alias to the version it points at.
	Aliases map[string]string
}

// IsPrompt reports whether the registered model is an MLflow prompt.
func (m *RegisteredModel) IsPrompt() bool {
	return strings.EqualFold(m.Tags[TagIsPrompt], "true")
}

// LoggedModel is the part of an MLflow 3 LoggedModel the resolver uses.
type LoggedModel struct {
	ID                  string
	ExperimentID        string
	Name                string
	CreationTimestampMs int64
	ArtifactURI         string
	// Status is LOGGED_MODEL_PENDING, LOGGED_MODEL_READY or
	// LOGGED_MODEL_UPLOAD_FAILED.
	Status      string
	SourceRunID string
	Tags        map[string]string
}

// aliasesFor lists, sorted, the aliases in m that point at version.
func aliasesFor(m map[string]string, version string) []string {
	var out []string
	for a, v := range m {
		if v == version {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}
