package resolver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// restRegistry talks to an MLflow tracking server over its REST API
// (/api/2.0/mlflow/...). It is safe for concurrent use.
type restRegistry struct {
	base      string // scheme://host[:port][/prefix], no trailing slash
	scheme    string
	hc        *httpClient
	artifacts *artifactOpener
}

var _ Registry = (*restRegistry)(nil)

// newREST returns a registry for an http(s) tracking URI; the path prefix of
// the URI is kept in front of /api/2.0.
func newREST(raw string, hc *httpClient, s3 S3Config, roots []string) (*restRegistry, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("MLflow URI %q: want http(s)://host[:port][/prefix]: %w", Redact(raw), ErrInvalid)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("MLflow URI %q: query strings, fragments and user info are not supported (use MLFLOW_TRACKING_USERNAME/PASSWORD): %w", Redact(raw), ErrInvalid)
	}
	r := &restRegistry{
		base:   strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"),
		scheme: u.Scheme,
		hc:     hc,
	}
	r.artifacts = newArtifactOpener(hc, s3, hc.timeout, roots, r.mlflowArtifacts)
	return r, nil
}

func (r *restRegistry) String() string { return r.base }

func (r *restRegistry) get(ctx context.Context, endpoint string, q url.Values, out any) error {
	u := r.base + endpoint
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return r.hc.doJSON(ctx, http.MethodGet, u, nil, out)
}

func (r *restRegistry) post(ctx context.Context, endpoint string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode request to %s: %w", endpoint, withKind(ErrInvalid, err))
	}
	return r.hc.doJSON(ctx, http.MethodPost, r.base+endpoint, b, out)
}

// Version resolves an alias, version, latest or stage URI. An alias is one
// round trip.
func (r *restRegistry) Version(ctx context.Context, u URI) (*ModelVersion, error) {
	var mv *ModelVersion
	var err error
	switch {
	case u.isLatestAlias() || u.Kind == KindLatest:
		mv, err = r.latest(ctx, u.Name, "")
	case u.Kind == KindAlias:
		var resp struct {
			ModelVersion *mvJSON `json:"model_version"`
		}
		err = r.get(ctx, "/api/2.0/mlflow/registered-models/alias", url.Values{"name": {u.Name}, "alias": {u.Alias}}, &resp)
		mv, err = resp.ModelVersion.result(err)
	case u.Kind == KindVersion:
		mv, err = r.version(ctx, u.Name, strconv.FormatInt(u.Version, 10))
	case u.Kind == KindStage:
		mv, err = r.latest(ctx, u.Name, u.Stage)
	default:
		err = fmt.Errorf("not a registry URI: %w", ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return mv, nil
}

func (r *restRegistry) version(ctx context.Context, name, version string) (*ModelVersion, error) {
	var resp struct {
		ModelVersion *mvJSON `json:"model_version"`
	}
	err := r.get(ctx, "/api/2.0/mlflow/model-versions/get", url.Values{"name": {name}, "version": {version}}, &resp)
	return resp.ModelVersion.result(err)
}

// latest returns the highest version, optionally within one stage, the way
// MLflow's client resolves models:/name/latest and models:/name/<stage>.
func (r *restRegistry) latest(ctx context.Context, name, stage string) (*ModelVersion, error) {
	req := struct {
		Name   string   `json:"name"`
		Stages []string `json:"stages,omitempty"`
	}{Name: name}
	if stage != "" {
		req.Stages = []string{stage}
	}
	var resp struct {
		ModelVersions []*mvJSON `json:"model_versions"`
	}
	if err := r.post(ctx, "/api/2.0/mlflow/registered-models/get-latest-versions", req, &resp); err != nil {
		return nil, err
	}
	var best *mvJSON
	var bestN int64 = -1
	for _, v := range resp.ModelVersions {
		if v == nil {
			continue
		}
		n, err := strconv.ParseInt(v.Version, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("registered-models/get-latest-versions returned version %q, not a number: %w", v.Version, ErrInvalid)
		}
		if n > bestN {
			best, bestN = v, n
		}
	}
	if best == nil {
		if stage != "" {
			return nil, fmt.Errorf("model %s has no version in stage %s: %w", name, stage, ErrNotFound)
		}
		return nil, fmt.Errorf("model %s has no versions: %w", name, ErrNotFound)
	}
	return best.result(nil)
}

// DownloadURI calls model-versions/get-download-uri.
func (r *restRegistry) DownloadURI(ctx context.Context, name, version string) (string, error) {
	var resp struct {
		ArtifactURI string `json:"artifact_uri"`
	}
	err := r.get(ctx, "/api/2.0/mlflow/model-versions/get-download-uri", url.Values{"name": {name}, "version": {version}}, &resp)
	if err == nil && resp.ArtifactURI == "" {
		err = fmt.Errorf("get-download-uri returned no artifact_uri: %w", ErrInvalid)
	}
	if err != nil {
		return "", fmt.Errorf("model %s version %s: %w", name, version, err)
	}
	return resp.ArtifactURI, nil
}

// RegisteredModel calls registered-models/get.
func (r *restRegistry) RegisteredModel(ctx context.Context, name string) (*RegisteredModel, error) {
	var resp struct {
		RegisteredModel *struct {
			Name        string    `json:"name"`
			Description string    `json:"description"`
			Tags        []tagJSON `json:"tags"`
			Aliases     []struct {
				Alias   string `json:"alias"`
				Version string `json:"version"`
			} `json:"aliases"`
		} `json:"registered_model"`
	}
	err := r.get(ctx, "/api/2.0/mlflow/registered-models/get", url.Values{"name": {name}}, &resp)
	if err == nil && resp.RegisteredModel == nil {
		err = fmt.Errorf("registered-models/get returned no registered_model: %w", ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	rm := resp.RegisteredModel
	out := &RegisteredModel{Name: rm.Name, Description: rm.Description, Tags: tagMap(rm.Tags), Aliases: map[string]string{}}
	for _, a := range rm.Aliases {
		out.Aliases[a.Alias] = a.Version
	}
	return out, nil
}

// LoggedModel calls logged-models/<id>.
func (r *restRegistry) LoggedModel(ctx context.Context, id string) (*LoggedModel, error) {
	var resp struct {
		Model *struct {
			Info struct {
				ModelID             string    `json:"model_id"`
				ExperimentID        string    `json:"experiment_id"`
				Name                string    `json:"name"`
				CreationTimestampMs int64     `json:"creation_timestamp_ms"`
				ArtifactURI         string    `json:"artifact_uri"`
				Status              string    `json:"status"`
				SourceRunID         string    `json:"source_run_id"`
				Tags                []tagJSON `json:"tags"`
			} `json:"info"`
		} `json:"model"`
	}
	err := r.get(ctx, "/api/2.0/mlflow/logged-models/"+url.PathEscape(id), nil, &resp)
	if err == nil && resp.Model == nil {
		err = fmt.Errorf("logged-models/get returned no model: %w", ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("logged model %s: %w", id, err)
	}
	i := resp.Model.Info
	return &LoggedModel{ID: i.ModelID, ExperimentID: i.ExperimentID, Name: i.Name, CreationTimestampMs: i.CreationTimestampMs,
		ArtifactURI: i.ArtifactURI, Status: i.Status, SourceRunID: i.SourceRunID, Tags: tagMap(i.Tags)}, nil
}

// Artifacts opens an artifact URI; mlflow-artifacts: URIs are served by this
// tracking server.
func (r *restRegistry) Artifacts(artifactURI string) (ArtifactStore, error) {
	return r.artifacts.open(artifactURI)
}

// mlflowArtifacts maps mlflow-artifacts:[//host]/<path> to this server's
// proxied artifact API, as MLflow's MlflowArtifactsRepository does: a host in
// the URI replaces the tracking host, keeping the tracking scheme and prefix.
// Another host than the tracking server must be allowed, and gets no
// credentials.
func (r *restRegistry) mlflowArtifacts(host, path string) (ArtifactStore, error) {
	base := r.base
	if host != "" {
		u, _ := url.Parse(r.base) // r.base was built from a parsed URL
		u.Host = host
		if err := r.hc.policy.check(u); err != nil {
			return nil, fmt.Errorf("artifact URI mlflow-artifacts://%s/%s: %w", host, path, err)
		}
		base = strings.TrimRight(u.String(), "/")
	}
	return newHTTPStore(r.hc, base+mlflowArtifactsAPI, path), nil
}

// Close releases idle connections.
func (r *restRegistry) Close() error {
	r.artifacts.close()
	return nil
}

// mvJSON is MLflow's ModelVersion in protobuf JSON.
type mvJSON struct {
	Name                 string    `json:"name"`
	Version              string    `json:"version"`
	CreationTimestamp    int64     `json:"creation_timestamp"`
	LastUpdatedTimestamp int64     `json:"last_updated_timestamp"`
	CurrentStage         string    `json:"current_stage"`
	Description          string    `json:"description"`
	Source               string    `json:"source"`
	RunID                string    `json:"run_id"`
	Status               string    `json:"status"`
	StatusMessage        string    `json:"status_message"`
	Tags                 []tagJSON `json:"tags"`
	Aliases              []string  `json:"aliases"`
}

// result converts a decoded model version, passing through a request error.
func (v *mvJSON) result(err error) (*ModelVersion, error) {
	if err != nil {
		return nil, err
	}
	if v == nil || v.Name == "" || v.Version == "" {
		return nil, fmt.Errorf("response holds no model_version: %w", ErrInvalid)
	}
	aliases := append([]string(nil), v.Aliases...)
	slices.Sort(aliases)
	return &ModelVersion{
		Name: v.Name, Version: v.Version, CreationTimestamp: v.CreationTimestamp, LastUpdatedTimestamp: v.LastUpdatedTimestamp,
		CurrentStage: v.CurrentStage, Description: v.Description, Source: v.Source, RunID: v.RunID,
		Status: v.Status, StatusMessage: v.StatusMessage, Tags: tagMap(v.Tags), Aliases: aliases,
	}, nil
}

type tagJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func tagMap(tags []tagJSON) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}
