package resolver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Resolver resolves models:/ URIs against an MLflow registry and fetches
// their artifacts through the on-disk cache. It is safe for concurrent use.
// Close it when done.
type Resolver struct {
	registry Registry // registered models and versions
	tracking Registry // runs, LoggedModels and artifacts
	cache    *Cache
	log      *slog.Logger
}

// New validates cfg, opens the registry and tracking backends and the cache
// directory. Errors name the bad setting and wrap ErrInvalid.
func New(cfg Config) (_ *Resolver, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("resolver config: CacheDir is empty and there is no user cache directory: %w", withKind(ErrInvalid, err))
		}
		cfg.CacheDir = filepath.Join(base, "mlgate")
	}
	cfg.ArtifactsRoot = defaultArtifactsRoot(cfg)
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	policy, err := newHostPolicy([]string{cfg.TrackingURI, cfg.RegistryURI}, cfg.AllowedHosts)
	if err != nil {
		return nil, err
	}
	roots, err := localRoots(cfg)
	if err != nil {
		return nil, err
	}
	cache, err := OpenCache(CacheConfig{Root: cfg.CacheDir, Logger: cfg.Logger, MaxModelBytes: cfg.MaxModelBytes, MaxBytes: cfg.CacheMaxBytes,
		DownloadTimeout: cfg.DownloadTimeout, MinDownloadRate: cfg.MinDownloadRate, RateWindow: cfg.RateWindow})
	if err != nil {
		return nil, fmt.Errorf("resolver config: CacheDir: %w", err)
	}
	defer func() {
		if err != nil {
			cache.Close()
		}
	}()
	b := backendDeps{cfg: cfg, tls: tc, policy: policy, roots: roots}
	tracking, err := b.open(cfg.TrackingURI)
	if err != nil {
		return nil, fmt.Errorf("resolver config: TrackingURI: %w", err)
	}
	registry := tracking
	if cfg.RegistryURI != cfg.TrackingURI {
		if registry, err = b.open(cfg.RegistryURI); err != nil {
			tracking.Close()
			return nil, fmt.Errorf("resolver config: RegistryURI: %w", err)
		}
	}
	return &Resolver{registry: registry, tracking: tracking, cache: cache, log: cfg.Logger}, nil
}

// defaultArtifactsRoot returns cfg.ArtifactsRoot, or, when it is empty and
// the tracking store is a SQLite file with an mlartifacts directory beside
// it, that directory: where `mlflow server` keeps proxied artifacts by
// default (--artifacts-destination ./mlartifacts) when started next to its
// database, the layout of a local store copied as a whole.
func defaultArtifactsRoot(cfg Config) string {
	if cfg.ArtifactsRoot != "" || !strings.HasPrefix(strings.ToLower(cfg.TrackingURI), "sqlite:") {
		return cfg.ArtifactsRoot
	}
	db, err := sqlitePath(cfg.TrackingURI)
	if err != nil {
		return ""
	}
	dir := filepath.Join(filepath.Dir(db), "mlartifacts")
	if !isDir(dir) {
		return ""
	}
	cfg.Logger.Info("artifacts root not set: using the mlartifacts directory beside the SQLite store", "artifacts_root", dir)
	return dir
}

// localRoots returns the absolute directories file: and plain-path
// artifact locations may be read from: cfg.AllowedRoots, else the local
// ArtifactsRoot and the CacheDir.
func localRoots(cfg Config) ([]string, error) {
	var in []string
	if len(cfg.AllowedRoots) > 0 {
		in = cfg.AllowedRoots
	} else {
		in = []string{cfg.CacheDir}
		if root, err := artifactsRoot(cfg.ArtifactsRoot); err == nil && root != "" && !strings.HasPrefix(root, "s3://") {
			in = append(in, root)
		}
	}
	var out []string
	for _, r := range in {
		if strings.TrimSpace(r) == "" {
			continue
		}
		abs, err := filepath.Abs(r)
		if err != nil || strings.Contains(r, "://") {
			return nil, fmt.Errorf("resolver config: AllowedRoots: %q is not a directory path: %w", Redact(r), ErrInvalid)
		}
		out = append(out, filepath.Clean(abs))
	}
	return out, nil
}

// backendDeps is what every backend is built from.
type backendDeps struct {
	cfg    Config
	tls    *tls.Config
	policy *hostPolicy
	roots  []string
}

// open opens a REST or SQLite backend for a store URI. Each backend owns
// its HTTP connection pool.
func (b backendDeps) open(raw string) (Registry, error) {
	scheme, _, _ := strings.Cut(raw, ":")
	hc := newHTTPClient(b.cfg, b.tls, b.policy)
	switch strings.ToLower(scheme) {
	case "http", "https":
		return newREST(raw, hc, b.cfg.S3, b.roots)
	case "sqlite":
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
		defer cancel()
		return newSQLite(ctx, raw, b.cfg, hc, b.roots)
	default:
		return nil, fmt.Errorf("store URI %q: want http(s)://host[:port][/prefix], sqlite:///relative.db or sqlite:////absolute.db: %w", Redact(raw), ErrInvalid)
	}
}

// Close releases the backends and the cache. The Resolver must not be used
// afterwards.
func (r *Resolver) Close() error {
	err := r.tracking.Close()
	if r.registry != r.tracking {
		err = errors.Join(err, r.registry.Close())
	}
	return errors.Join(err, r.cache.Close())
}

// Cache returns the resolver's artifact cache.
func (r *Resolver) Cache() *Cache { return r.cache }

// Check returns what u points at now, with its status, in as few calls as
// possible (one round trip for an alias); it is meant for polling. It does
// not refuse non-READY versions: compare Status with StatusReady. For a
// models:/m-<id> URI it reads the LoggedModel and returns a ModelVersion with
// empty Name and Version, Source set to the URI, and Status READY when the
// LoggedModel is LOGGED_MODEL_READY.
func (r *Resolver) Check(ctx context.Context, u URI) (*ModelVersion, error) {
	if u.Kind != KindLoggedModel {
		return r.registry.Version(ctx, u)
	}
	lm, err := r.tracking.LoggedModel(ctx, u.ModelID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	status := lm.Status
	if status == LoggedModelReady {
		status = StatusReady
	}
	return &ModelVersion{Source: u.String(), Status: status, CreationTimestamp: lm.CreationTimestampMs, RunID: lm.SourceRunID, Tags: lm.Tags}, nil
}

// Resolve fully resolves u: the version it points at (which must be READY
// and not a prompt), its artifact location, and its provenance. A missing,
// deleted or unreadable run or LoggedModel is recorded in the Resolution,
// not returned as an error.
func (r *Resolver) Resolve(ctx context.Context, u URI) (*Resolution, error) {
	res, err := r.resolve(ctx, u)
	if err != nil {
		return nil, err
	}
	r.log.Debug("model URI resolved", "uri", u.String(), "name", res.Name, "version", res.Version,
		"model_id", res.ModelID, "artifact_uri", Redact(res.ArtifactURI), "run_id", res.RunID, "run", res.Run, "logged_model", res.LoggedModel)
	return res, nil
}

func (r *Resolver) resolve(ctx context.Context, u URI) (*Resolution, error) {
	if u.Kind == KindLoggedModel {
		return r.resolveLoggedModel(ctx, u)
	}
	now := time.Now().UTC()
	mv, err := r.registry.Version(ctx, u)
	if err != nil {
		return nil, err
	}
	if mv.Status != StatusReady {
		msg := ""
		if mv.StatusMessage != "" {
			msg = " (" + mv.StatusMessage + ")"
		}
		return nil, fmt.Errorf("%s: model %s version %s has status %q%s, not READY: %w", u, mv.Name, mv.Version, mv.Status, msg, ErrNotReady)
	}
	rm, err := r.registry.RegisteredModel(ctx, mv.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if rm.IsPrompt() {
		return nil, fmt.Errorf("%s: registered model %s is an MLflow prompt (tag %s=true), not a model: %w", u, mv.Name, TagIsPrompt, ErrPrompt)
	}
	loc, err := r.registry.DownloadURI(ctx, mv.Name, mv.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if loc, err = r.artifactLocation(ctx, loc, 0); err != nil {
		return nil, fmt.Errorf("%s: model %s version %s: %w", u, mv.Name, mv.Version, err)
	}
	if _, err := r.tracking.Artifacts(loc); err != nil {
		return nil, fmt.Errorf("%s: model %s version %s: %w", u, mv.Name, mv.Version, err)
	}
	res := &Resolution{
		URI: u, Name: mv.Name, Version: mv.Version, ModelID: mv.ModelID(), Stage: mv.CurrentStage,
		Aliases: mv.Aliases, Status: mv.Status, CreationTimestamp: mv.CreationTimestamp, Source: mv.Source,
		ArtifactURI: loc, Run: LinkNone, LoggedModel: LinkNone, ResolvedAt: now,
	}
	var lm *LoggedModel
	if res.ModelID != "" {
		if lm, res.LoggedModel, err = r.loggedModelLink(ctx, u, res.ModelID); err != nil {
			return nil, err
		}
	}
	res.RunID, res.RunIDFrom = mv.RunID, RunIDFromModelVersion
	if res.RunID == "" && lm != nil && lm.SourceRunID != "" {
		res.RunID, res.RunIDFrom = lm.SourceRunID, RunIDFromLoggedModel
	}
	if res.RunID == "" {
		res.RunIDFrom = ""
	}
	if err := r.provenance(ctx, res, lm); err != nil {
		return nil, err
	}
	return res, nil
}

func (r *Resolver) resolveLoggedModel(ctx context.Context, u URI) (*Resolution, error) {
	now := time.Now().UTC()
	lm, err := r.tracking.LoggedModel(ctx, u.ModelID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if lm.Status != LoggedModelReady {
		return nil, fmt.Errorf("%s: logged model has status %q, not %s: %w", u, lm.Status, LoggedModelReady, ErrNotReady)
	}
	if lm.ArtifactURI == "" {
		return nil, fmt.Errorf("%s: logged model has no artifact_uri: %w", u, ErrInvalid)
	}
	loc, err := r.artifactLocation(ctx, lm.ArtifactURI, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if _, err := r.tracking.Artifacts(loc); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	id := lm.ID
	if id == "" {
		id = u.ModelID
	}
	res := &Resolution{
		URI: u, ModelID: id, Status: lm.Status, CreationTimestamp: lm.CreationTimestampMs, Source: u.String(),
		ArtifactURI: loc, Run: LinkNone, LoggedModel: LinkFound, ResolvedAt: now,
	}
	if lm.SourceRunID != "" {
		res.RunID, res.RunIDFrom = lm.SourceRunID, RunIDFromLoggedModel
	}
	if err := r.provenance(ctx, res, lm); err != nil {
		return nil, err
	}
	return res, nil
}

// provenance looks up res.RunID and fills the run state, git commit, data
// version and run tags, all from the one runs/get answer.
func (r *Resolver) provenance(ctx context.Context, res *Resolution, lm *LoggedModel) error {
	if res.RunID != "" {
		run, err := r.tracking.Run(ctx, res.RunID)
		switch {
		case err == nil:
			res.Run = LinkFound
			if run.LifecycleStage == "deleted" {
				res.Run = LinkDeleted
			}
			res.GitCommit = run.Tags[TagGitCommit]
			res.DataVersion, _, _ = DataVersionOf(run)
			res.RunTags, res.run = run.Tags, run
		case errors.Is(err, ErrNotFound):
			res.Run = LinkMissing
			r.log.Warn("model's run not found; serving without its provenance", "uri", res.URI.String(), "run_id", res.RunID, "err", err)
		case errors.Is(err, ErrUnauthorized):
			res.Run = LinkUnauthorized
			r.log.Warn("model's run not readable; serving without its provenance", "uri", res.URI.String(), "run_id", res.RunID, "err", err)
		default:
			return fmt.Errorf("%s: %w", res.URI, err)
		}
	}
	if res.GitCommit == "" && lm != nil {
		res.GitCommit = lm.Tags[TagGitCommit]
	}
	return nil
}

func (r *Resolver) loggedModelLink(ctx context.Context, u URI, id string) (*LoggedModel, LinkState, error) {
	lm, err := r.tracking.LoggedModel(ctx, id)
	switch {
	case err == nil:
		return lm, LinkFound, nil
	case errors.Is(err, ErrNotFound):
		r.log.Warn("model's logged model not found", "uri", u.String(), "model_id", id, "err", err)
		return nil, LinkMissing, nil
	case errors.Is(err, ErrUnauthorized):
		r.log.Warn("model's logged model not readable", "uri", u.String(), "model_id", id, "err", err)
		return nil, LinkUnauthorized, nil
	default:
		return nil, "", fmt.Errorf("%s: %w", u, err)
	}
}

// maxIndirections bounds runs:/ and models:/ chains in artifact locations.
const maxIndirections = 4

// artifactLocation follows runs:/<run_id>/<path> and models:/ download URIs
// to a concrete artifact URI.
func (r *Resolver) artifactLocation(ctx context.Context, loc string, depth int) (string, error) {
	if depth > maxIndirections {
		return "", fmt.Errorf("artifact location %q: more than %d runs:/ or models:/ indirections: %w", Redact(loc), maxIndirections, ErrInvalid)
	}
	switch {
	case strings.HasPrefix(loc, "runs:/"):
		runID, rel, _ := strings.Cut(strings.TrimPrefix(loc, "runs:/"), "/")
		if runID == "" {
			return "", fmt.Errorf("artifact location %q has no run ID: %w", Redact(loc), ErrInvalid)
		}
		run, err := r.tracking.Run(ctx, runID)
		if err != nil {
			return "", fmt.Errorf("artifact location %q: %w", Redact(loc), err)
		}
		if run.ArtifactURI == "" {
			return "", fmt.Errorf("artifact location %q: run has no artifact_uri: %w", Redact(loc), ErrInvalid)
		}
		next := strings.TrimRight(run.ArtifactURI, "/")
		if rel = strings.Trim(rel, "/"); rel != "" {
			next += "/" + rel
		}
		return r.artifactLocation(ctx, next, depth+1)
	case strings.HasPrefix(strings.ToLower(loc), "models:"):
		u, err := ParseURI(loc)
		if err != nil {
			return "", fmt.Errorf("artifact location: %w", err)
		}
		if u.Kind == KindLoggedModel {
			lm, err := r.tracking.LoggedModel(ctx, u.ModelID)
			if err != nil {
				return "", fmt.Errorf("artifact location %q: %w", Redact(loc), err)
			}
			return r.artifactLocation(ctx, lm.ArtifactURI, depth+1)
		}
		mv, err := r.registry.Version(ctx, u)
		if err != nil {
			return "", fmt.Errorf("artifact location: %w", err)
		}
		next, err := r.registry.DownloadURI(ctx, mv.Name, mv.Version)
		if err != nil {
			return "", fmt.Errorf("artifact location %q: %w", Redact(loc), err)
		}
		return r.artifactLocation(ctx, next, depth+1)
	default:
		return loc, nil
	}
}

// Fetch returns a local directory holding the whole artifact directory of
// res, downloading it into the cache unless it is there already (see
// Cache.Fetch). The directory must be treated as read-only.
func (r *Resolver) Fetch(ctx context.Context, res *Resolution) (string, error) {
	if dir, ok := r.cache.Lookup(res); ok {
		return dir, nil
	}
	store, err := r.tracking.Artifacts(res.ArtifactURI)
	if err != nil {
		return "", fmt.Errorf("%s: %w", res, err)
	}
	return r.cache.Fetch(ctx, res, store)
}

// ReadFile returns one file of res's artifact directory, such as "MLmodel",
// from the cache when the version is there and from the artifact store
// otherwise (without downloading the rest). name must be a local path. The
// read is bounded like a download: MLmodel by MaxMLmodelBytes, input
// examples by MaxInputExampleBytes, other files by MaxModelBytes.
func (r *Resolver) ReadFile(ctx context.Context, res *Resolution, name string) ([]byte, error) {
	if !filepath.IsLocal(name) {
		return nil, fmt.Errorf("artifact file %q: not a path inside the model directory: %w", name, ErrInvalid)
	}
	slash := filepath.ToSlash(filepath.Clean(name))
	if dir, ok := r.cache.Lookup(res); ok {
		return r.cache.readCached(dir, slash)
	}
	store, err := r.tracking.Artifacts(res.ArtifactURI)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", res, err)
	}
	data, err := r.cache.ReadOne(ctx, store, slash)
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", res, name, err)
	}
	return data, nil
}

// Remember records res as the last good resolution of res.URI, the one
// Cached returns when the registry cannot be reached. Call it once the
// version is serving, so that a version that failed to load is never the
// fallback.
func (r *Resolver) Remember(res *Resolution) error {
	return r.cache.SaveResolution(res.URI, res)
}

// Cached returns the last resolution of u passed to Remember, and its
// cache directory, without contacting the registry. It is ErrNotFound when
// there is none or its artifacts are no longer in the cache.
func (r *Resolver) Cached(u URI) (*Resolution, string, error) {
	res, err := r.cache.LoadResolution(u)
	if err != nil {
		return nil, "", err
	}
	dir, ok := r.cache.Lookup(res)
	if !ok {
		return nil, "", fmt.Errorf("saved resolution %s: artifacts not in cache %s: %w", res, r.cache.Root(), ErrNotFound)
	}
	return res, dir, nil
}
