package resolver

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// runJSON is runs/get's run in protobuf JSON.
type runJSON struct {
	Info struct {
		RunID          string `json:"run_id"`
		ExperimentID   string `json:"experiment_id"`
		RunName        string `json:"run_name"`
		UserID         string `json:"user_id"`
		Status         string `json:"status"`
		StartTime      int64  `json:"start_time"`
		EndTime        int64  `json:"end_time"`
		LifecycleStage string `json:"lifecycle_stage"`
		ArtifactURI    string `json:"artifact_uri"`
	} `json:"info"`
	Data struct {
		Metrics []Metric  `json:"metrics"`
		Params  []tagJSON `json:"params"`
		Tags    []tagJSON `json:"tags"`
	} `json:"data"`
	Inputs struct {
		DatasetInputs []struct {
			Tags    []tagJSON `json:"tags"`
			Dataset struct {
				Name       string `json:"name"`
				Digest     string `json:"digest"`
				SourceType string `json:"source_type"`
				Source     string `json:"source"`
			} `json:"dataset"`
		} `json:"dataset_inputs"`
	} `json:"inputs"`
}

// Run calls runs/get, which answers the run's info, tags, params, latest
// metrics and dataset inputs at once.
func (r *restRegistry) Run(ctx context.Context, runID string) (*Run, error) {
	var resp struct {
		Run *runJSON `json:"run"`
	}
	err := r.get(ctx, "/api/2.0/mlflow/runs/get", url.Values{"run_id": {runID}}, &resp)
	if err == nil && resp.Run == nil {
		err = fmt.Errorf("runs/get returned no run: %w", ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", runID, err)
	}
	j := resp.Run
	i := j.Info
	id := i.RunID
	if id == "" {
		id = runID
	}
	run := &Run{ID: id, ExperimentID: i.ExperimentID, Name: i.RunName, Status: i.Status, UserID: i.UserID,
		StartTime: i.StartTime, EndTime: i.EndTime, LifecycleStage: i.LifecycleStage, ArtifactURI: i.ArtifactURI,
		Tags: tagMap(j.Data.Tags), Params: tagMap(j.Data.Params), Metrics: j.Data.Metrics}
	sortMetrics(run.Metrics)
	for _, in := range j.Inputs.DatasetInputs {
		d := in.Dataset
		run.Datasets = append(run.Datasets, DatasetInput{Name: d.Name, Digest: d.Digest, SourceType: d.SourceType,
			Source: d.Source, SourceURI: sourceURI(d.Source), Context: tagMap(in.Tags)[TagDatasetContext]})
	}
	sortDatasets(run.Datasets)
	return run, nil
}

// Experiment calls experiments/get.
func (r *restRegistry) Experiment(ctx context.Context, id string) (*Experiment, error) {
	var resp struct {
		Experiment *struct {
			ExperimentID   string `json:"experiment_id"`
			Name           string `json:"name"`
			LifecycleStage string `json:"lifecycle_stage"`
		} `json:"experiment"`
	}
	err := r.get(ctx, "/api/2.0/mlflow/experiments/get", url.Values{"experiment_id": {id}}, &resp)
	if err == nil && resp.Experiment == nil {
		err = fmt.Errorf("experiments/get returned no experiment: %w", ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("experiment %s: %w", id, err)
	}
	e := resp.Experiment
	if e.ExperimentID == "" {
		e.ExperimentID = id
	}
	return &Experiment{ID: e.ExperimentID, Name: e.Name, LifecycleStage: e.LifecycleStage}, nil
}

func sortMetrics(ms []Metric) {
	slices.SortFunc(ms, func(a, b Metric) int { return strings.Compare(a.Key, b.Key) })
}

func sortDatasets(ds []DatasetInput) {
	slices.SortFunc(ds, func(a, b DatasetInput) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.Digest, b.Digest); c != 0 {
			return c
		}
		return strings.Compare(a.Context, b.Context)
	})
}
