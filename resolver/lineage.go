package resolver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Lineage is the chain from a resolved version back to what produced it:
// the run, the code (git commit, repository, entry point), the data (DVC
// hash, dataset inputs), the params and the final metrics. Every field is
// what MLflow has logged; a link that was not logged is empty and named in
// Absent, never guessed. A Lineage is a plain value.
type Lineage struct {
	Run  LineageRun  `json:"run"`
	Code LineageCode `json:"code"`
	Data LineageData `json:"data"`
	// Params are the run's params, sorted by key.
	Params []Param `json:"params"`
	// Metrics are the final (latest) value of each metric, sorted by key.
	Metrics []Metric `json:"metrics"`
	// Tags are all the run's tags.
	Tags map[string]string `json:"tags"`
	// Absent says, one phrase each, which links are not logged or could not
	// be read, e.g. "no git commit logged (run tag mlflow.source.git.commit)".
	Absent []string `json:"absent"`
}

// LineageRun identifies the run.
type LineageRun struct {
	ID string `json:"id,omitempty"`
	// IDFrom is where the ID came from: Resolution.RunIDFrom.
	IDFrom string `json:"id_from,omitempty"`
	// State is what reading the run found.
	State          LinkState `json:"state"`
	Name           string    `json:"name,omitempty"`
	ExperimentID   string    `json:"experiment_id,omitempty"`
	ExperimentName string    `json:"experiment_name,omitempty"`
	Status         string    `json:"status,omitempty"`
	User           string    `json:"user,omitempty"`
	// StartTime and EndTime are milliseconds since the Unix epoch; 0 when
	// not logged.
	StartTime      int64  `json:"start_time,omitempty"`
	EndTime        int64  `json:"end_time,omitempty"`
	LifecycleStage string `json:"lifecycle_stage,omitempty"`
}

// LineageCode is the code the run was trained from.
type LineageCode struct {
	// GitCommit is the run's mlflow.source.git.commit tag, else its
	// LoggedModel's; GitCommitFrom says which ("run" or "logged_model").
	GitCommit     string `json:"git_commit,omitempty"`
	GitCommitFrom string `json:"git_commit_from,omitempty"`
	// RepoURL is mlflow.source.git.repoURL.
	RepoURL string `json:"repo_url,omitempty"`
	// SourceName and SourceType are mlflow.source.name (a script, a
	// notebook, or the project's URI or directory) and mlflow.source.type
	// (LOCAL, PROJECT, NOTEBOOK, JOB).
	SourceName string `json:"source_name,omitempty"`
	SourceType string `json:"source_type,omitempty"`
	// EntryPoint is mlflow.project.entryPoint, set by mlflow run.
	EntryPoint string `json:"entry_point,omitempty"`
}

// LineageData is the data the run was trained on.
type LineageData struct {
	// Version and VersionFrom are DataVersionOf's answer; VersionNote says
	// why Version is empty.
	Version     string `json:"version,omitempty"`
	VersionFrom string `json:"version_from,omitempty"`
	VersionNote string `json:"version_note,omitempty"`
	// DVCDataHash is the run's dvc_data_hash tag.
	DVCDataHash string `json:"dvc_data_hash,omitempty"`
	// Datasets are the run's dataset inputs.
	Datasets []DatasetInput `json:"datasets"`
}

// Param is one logged param.
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Lineage returns the chain behind res. It uses the run Resolve read when
// res carries it (no registry call), else reads the run once; it then reads
// the run's experiment for its name (one call). A run or experiment that is
// missing or unreadable is recorded in the Lineage; other failures are
// returned.
func (r *Resolver) Lineage(ctx context.Context, res *Resolution) (*Lineage, error) {
	l := &Lineage{Run: LineageRun{ID: res.RunID, IDFrom: res.RunIDFrom, State: res.Run}, Params: []Param{}, Metrics: []Metric{},
		Tags: map[string]string{}, Data: LineageData{Datasets: []DatasetInput{}}, Absent: []string{}}
	run := res.run
	if run == nil && res.RunID != "" && res.Run != LinkMissing && res.Run != LinkUnauthorized {
		var err error
		switch run, err = r.tracking.Run(ctx, res.RunID); {
		case err == nil:
			l.Run.State = LinkFound
			if run.LifecycleStage == "deleted" {
				l.Run.State = LinkDeleted
			}
		case errors.Is(err, ErrNotFound):
			l.Run.State = LinkMissing
		case errors.Is(err, ErrUnauthorized):
			l.Run.State = LinkUnauthorized
		default:
			return nil, fmt.Errorf("%s: lineage: %w", res.URI, err)
		}
	}
	switch l.Run.State {
	case LinkNone:
		l.absent("no run linked (the version has no run_id and no logged model with a source_run_id)")
	case LinkMissing:
		l.absent(fmt.Sprintf("run %s not found in the registry (deleted and purged?)", res.RunID))
	case LinkUnauthorized:
		l.absent(fmt.Sprintf("run %s not readable with these credentials", res.RunID))
	case LinkDeleted:
		l.absent(fmt.Sprintf("run %s is deleted (lifecycle_stage deleted); shown as it was logged", res.RunID))
	}
	if run == nil {
		l.Code.GitCommit = res.GitCommit
		if l.Code.GitCommit != "" {
			l.Code.GitCommitFrom = "logged_model"
		}
		l.codeAbsent()
		return l, nil
	}
	if err := r.fillRun(ctx, l, run, res); err != nil {
		return nil, err
	}
	return l, nil
}

// fillRun fills l from a run that was read.
func (r *Resolver) fillRun(ctx context.Context, l *Lineage, run *Run, res *Resolution) error {
	l.Run.Name, l.Run.ExperimentID, l.Run.Status, l.Run.User = run.Name, run.ExperimentID, run.Status, run.UserID
	l.Run.StartTime, l.Run.EndTime, l.Run.LifecycleStage = run.StartTime, run.EndTime, run.LifecycleStage
	if l.Run.User == "" {
		l.Run.User = run.Tags[TagUser]
	}
	if run.ExperimentID != "" {
		exp, err := r.tracking.Experiment(ctx, run.ExperimentID)
		switch {
		case err == nil:
			l.Run.ExperimentName = exp.Name
		case errors.Is(err, ErrNotFound):
			l.absent(fmt.Sprintf("experiment %s not found in the registry", run.ExperimentID))
		case errors.Is(err, ErrUnauthorized):
			l.absent(fmt.Sprintf("experiment %s not readable with these credentials", run.ExperimentID))
		default:
			return fmt.Errorf("%s: lineage: %w", res.URI, err)
		}
	}
	tag := func(k string) string { return strings.TrimSpace(run.Tags[k]) }
	l.Code = LineageCode{GitCommit: tag(TagGitCommit), RepoURL: tag(TagGitRepoURL), SourceName: tag(TagSourceName),
		SourceType: tag(TagSourceType), EntryPoint: tag(TagEntryPoint)}
	switch {
	case l.Code.GitCommit != "":
		l.Code.GitCommitFrom = "run"
	case res.GitCommit != "":
		l.Code.GitCommit, l.Code.GitCommitFrom = res.GitCommit, "logged_model"
	}
	l.codeAbsent()

	l.Data.DVCDataHash = tag(TagDVCDataHash)
	l.Data.Version, l.Data.VersionFrom, l.Data.VersionNote = DataVersionOf(run)
	l.Data.Datasets = append(l.Data.Datasets, run.Datasets...)
	if l.Data.DVCDataHash == "" {
		l.absent("no DVC data hash logged (run tag " + TagDVCDataHash + ")")
	}
	if len(run.Datasets) == 0 {
		l.absent("no dataset input logged (mlflow.log_input)")
	}
	if l.Data.Version == "" && l.Data.DVCDataHash == "" && len(run.Datasets) > 0 {
		l.absent("no data version: " + l.Data.VersionNote)
	}

	for k, v := range run.Params {
		l.Params = append(l.Params, Param{Key: k, Value: v})
	}
	slices.SortFunc(l.Params, func(a, b Param) int { return strings.Compare(a.Key, b.Key) })
	l.Metrics = append(l.Metrics, run.Metrics...)
	for k, v := range run.Tags {
		l.Tags[k] = v
	}
	if len(l.Params) == 0 {
		l.absent("no params logged")
	}
	if len(l.Metrics) == 0 {
		l.absent("no metrics logged")
	}
	return nil
}

// codeAbsent records the code links that are missing.
func (l *Lineage) codeAbsent() {
	if l.Code.GitCommit == "" {
		l.absent("no git commit logged (run tag " + TagGitCommit + ")")
	}
	if l.Code.RepoURL == "" {
		l.absent("no git repository logged (run tag " + TagGitRepoURL + ")")
	}
	if l.Code.EntryPoint == "" {
		l.absent("no entry point logged (run tag " + TagEntryPoint + ")")
	}
}

func (l *Lineage) absent(s string) { l.Absent = append(l.Absent, s) }

// DataVersionOf returns the version of the data run trained on, what it
// was taken from, and, when there is none, why:
//   - the dvc_data_hash tag, when set;
//   - else the digest of the dataset input with context "training" (several
//     training inputs count only when they share one digest);
//   - else the digest of the only dataset input, when it has no context.
//
// Any other set of inputs does not say which data trained the model, and
// no version is given.
func DataVersionOf(run *Run) (version, from, why string) {
	if h := strings.TrimSpace(run.Tags[TagDVCDataHash]); h != "" {
		return h, "run tag " + TagDVCDataHash, ""
	}
	var training []DatasetInput
	for _, d := range run.Datasets {
		if d.Context == "training" {
			training = append(training, d)
		}
	}
	switch {
	case len(training) > 0:
		digests := map[string]bool{}
		for _, d := range training {
			digests[d.Digest] = true
		}
		if len(digests) == 1 && training[0].Digest != "" {
			return training[0].Digest, fmt.Sprintf("digest of dataset input %s (context training)", training[0].Name), ""
		}
		return "", "", fmt.Sprintf("no %s tag, and the %d dataset inputs with context training have different digests", TagDVCDataHash, len(training))
	case len(run.Datasets) == 0:
		return "", "", fmt.Sprintf("no %s tag and no dataset input logged", TagDVCDataHash)
	case len(run.Datasets) == 1 && run.Datasets[0].Context == "" && run.Datasets[0].Digest != "":
		d := run.Datasets[0]
		return d.Digest, fmt.Sprintf("digest of dataset input %s (the only one; no context logged)", d.Name), ""
	case len(run.Datasets) == 1:
		d := run.Datasets[0]
		if d.Digest == "" {
			return "", "", fmt.Sprintf("no %s tag, and the only dataset input (%s) has no digest", TagDVCDataHash, d.Name)
		}
		return "", "", fmt.Sprintf("no %s tag, and the only dataset input (%s) has context %q, not training", TagDVCDataHash, d.Name, d.Context)
	default:
		return "", "", fmt.Sprintf("no %s tag, and none of the %d dataset inputs has context training", TagDVCDataHash, len(run.Datasets))
	}
}
