package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/mlgate/mlgate/resolver"
	"github.com/mlgate/mlgate/signature"
)

var resolveSettings = []setting{
	{"tracking-uri", []string{"MLGATE_TRACKING_URI", "MLFLOW_TRACKING_URI"},
		"MLflow tracking server (http(s)://host:port) or local store (sqlite:///path/mlflow.db)",
		str(func(c *Config) *string { return &c.TrackingURI })},
	{"registry-uri", []string{"MLGATE_REGISTRY_URI", "MLFLOW_REGISTRY_URI"}, "MLflow registry URI when it differs from the tracking URI",
		str(func(c *Config) *string { return &c.RegistryURI })},
	{"artifacts-root", env("ARTIFACTS_ROOT"), "directory behind mlflow-artifacts:/ locations of a local store",
		str(func(c *Config) *string { return &c.ArtifactsRoot })},
	{"cache-dir", env("CACHE_DIR"), "on-disk cache of downloaded model versions",
		str(func(c *Config) *string { return &c.CacheDir })},
	{"registry-timeout", env("REGISTRY_TIMEOUT"), "timeout of one registry request",
		dur(func(c *Config) *time.Duration { return &c.RegistryTimeout })},
	{"download-timeout", env("DOWNLOAD_TIMEOUT"), "deadline of reading the MLmodel (default 10m)",
		dur(func(c *Config) *time.Duration { return &c.DownloadTimeout })},
	{"min-download-rate", env("MIN_DOWNLOAD_RATE"), "abandon a download slower than this many bytes/s over 30s; -1 for no minimum (default 65536)",
		int64s(func(c *Config) *int64 { return &c.MinDownloadRate })},
	{"artifacts-allowed-hosts", env("ARTIFACTS_ALLOWED_HOSTS"), "comma-separated hosts besides the tracking server that artifacts may come from, never with its credentials",
		list(func(c *Config) *[]string { return &c.Artifacts.AllowedHosts })},
	{"artifacts-allowed-roots", env("ARTIFACTS_ALLOWED_ROOTS"), "comma-separated local directories file: artifact locations may be read from (default the artifacts root and the cache dir)",
		list(func(c *Config) *[]string { return &c.Artifacts.AllowedRoots })},
	{"at-version", env("RESOLVE_AT_VERSION"), "describe this version of the URI's model instead of what the URI points at (as models:/<name>/<N>)",
		int64s(func(c *Config) *int64 { return &c.resolveAtVersion })},
	s3AnonymousSetting,
	{"json", env("RESOLVE_JSON"), "print JSON instead of a table",
		boolean(func(c *Config) *bool { return &c.resolveJSON })},
}

// resolveOutput is what `mlgate resolve --json` prints.
type resolveOutput struct {
	*resolver.Resolution
	Signature string   `json:"signature"`
	Flavors   []string `json:"flavors,omitempty"`
	// Lineage is the chain behind the version; Reproduce the commands
	// built from it.
	Lineage   *resolver.Lineage `json:"lineage"`
	Reproduce reproduction      `json:"reproduce"`
}

// cmdResolve is `mlgate resolve models:/...`: resolve the URI through the
// registry and print the version, its provenance, where its artifacts are, a
// summary of its signature, its lineage (run, code, data, params, metrics)
// and the commands that reproduce it, without serving anything. SIGTERM or
// SIGINT (ctx) stops it at once, with exit code 1.
func cmdResolve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var uris []string
	var flags []string
	for _, a := range args {
		if strings.HasPrefix(a, "models:") {
			uris = append(uris, a)
		} else {
			flags = append(flags, a)
		}
	}
	cfg, err := loadConfig("resolve", resolveSettings, flags, os.Getenv, stderr)
	if err != nil {
		if errors.Is(err, flagHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "mlgate resolve: %v\n", err)
		return 2
	}
	if len(uris) == 0 {
		fmt.Fprintln(stderr, "mlgate resolve: give a models:/ URI, e.g. mlgate resolve models:/churn-gbm@champion")
		return 2
	}
	if cfg.TrackingURI == "" {
		fmt.Fprintln(stderr, "mlgate resolve: tracking-uri: not set: give --tracking-uri or MLFLOW_TRACKING_URI")
		return 2
	}
	if cfg.resolveAtVersion < 0 {
		fmt.Fprintf(stderr, "mlgate resolve: at-version: %d: want a version number (1 or more)\n", cfg.resolveAtVersion)
		return 2
	}
	if errs := cfg.validateDownloads(); len(errs) > 0 {
		fmt.Fprintf(stderr, "mlgate resolve: %v\n", errors.Join(errs...))
		return 2
	}
	rc, err := resolverConfig(cfg, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "mlgate resolve: %v\n", err)
		return 2
	}
	r, err := resolver.New(rc)
	if err != nil {
		fmt.Fprintf(stderr, "mlgate resolve: tracking-uri %s: %v\n", resolver.Redact(cfg.TrackingURI), err)
		return 2
	}
	defer r.Close()

	code := 0
	for i, raw := range uris {
		u, err := resolver.ParseURI(raw)
		if err == nil && cfg.resolveAtVersion > 0 {
			u, err = atVersion(u, cfg.resolveAtVersion)
		}
		if err != nil {
			fmt.Fprintf(stderr, "mlgate resolve: %v\n", err)
			code = 1
			continue
		}
		out, err := describe(ctx, r, u)
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "mlgate resolve: interrupted while resolving %s: %v\n", u, context.Cause(ctx))
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "mlgate resolve: %v\n", err)
			code = 1
			continue
		}
		if cfg.resolveJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			enc.Encode(out)
			continue
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		printResolution(stdout, out)
	}
	return code
}

// describe resolves u, summarises its MLmodel and reads its lineage. The
// MLmodel is read within resolver.MaxMLmodelBytes and parsed off the
// caller's goroutine, so that ctx ending stops describe even while parsing.
func describe(ctx context.Context, r *resolver.Resolver, u resolver.URI) (*resolveOutput, error) {
	res, err := r.Resolve(ctx, u)
	if err != nil {
		return nil, err
	}
	out := &resolveOutput{Resolution: res}
	out.Signature, out.Flavors = summarise(ctx, r, res)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if out.Lineage, err = r.Lineage(ctx, res); err != nil {
		return nil, err
	}
	out.Reproduce = reproduce(out.Lineage)
	return out, nil
}

// summarise reads res's MLmodel for its signature summary and flavors; an
// unreadable MLmodel is reported in the summary. It takes the run ID from
// the MLmodel when the registry gave none.
func summarise(ctx context.Context, r *resolver.Resolver, res *resolver.Resolution) (string, []string) {
	raw, err := r.ReadFile(ctx, res, "MLmodel")
	if err != nil {
		return "unknown: " + err.Error(), nil
	}
	ml, err := parseMLmodel(ctx, raw)
	if err != nil {
		return "unknown: " + err.Error(), nil
	}
	var flavors []string
	for f := range ml.Flavors {
		flavors = append(flavors, f)
	}
	sort.Strings(flavors)
	if res.RunID == "" && ml.RunID != "" {
		res.RunID, res.RunIDFrom = ml.RunID, resolver.RunIDFromMLmodel
	}
	return ml.Signature.Summary(), flavors
}

// atVersion returns version n of u's registered model.
func atVersion(u resolver.URI, n int64) (resolver.URI, error) {
	if u.Kind == resolver.KindLoggedModel {
		return u, fmt.Errorf("at-version: %s is a logged model, which has no registry versions", u)
	}
	return resolver.ParseURI(fmt.Sprintf("models:/%s/%d", u.Name, n))
}

// parseMLmodel parses raw, returning early with ctx's error when ctx ends
// first (the parse then finishes in the background and is dropped).
func parseMLmodel(ctx context.Context, raw []byte) (*signature.MLmodel, error) {
	type parsed struct {
		ml  *signature.MLmodel
		err error
	}
	done := make(chan parsed, 1)
	go func() {
		ml, err := signature.ParseMLmodel(raw)
		done <- parsed{ml, err}
	}()
	select {
	case p := <-done:
		return p.ml, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// resolverConfig builds the resolver's settings from MLflow's environment
// variables (getenv) and cfg, which wins.
func resolverConfig(cfg Config, getenv func(string) string) (resolver.Config, error) {
	rc, err := resolver.ConfigFromEnv(getenv)
	if err != nil {
		return resolver.Config{}, err
	}
	rc.TrackingURI, rc.RegistryURI = cfg.TrackingURI, cfg.RegistryURI
	rc.ArtifactsRoot, rc.CacheDir, rc.Timeout = cfg.ArtifactsRoot, cfg.CacheDir, cfg.RegistryTimeout
	rc.DownloadTimeout, rc.MinDownloadRate, rc.MaxModelBytes = cfg.DownloadTimeout, cfg.MinDownloadRate, cfg.MaxModelBytes
	rc.CacheMaxBytes = cfg.CacheMaxBytes
	rc.AllowedHosts, rc.AllowedRoots = cfg.Artifacts.AllowedHosts, cfg.Artifacts.AllowedRoots
	rc.S3.Anonymous = cfg.S3.Anonymous
	rc.UserAgent = "mlgate/" + version
	return rc, nil
}

// validateDownloads checks the download settings; zero means the default.
func (c *Config) validateDownloads() []error {
	var errs []error
	if c.DownloadTimeout < 0 {
		errs = append(errs, fmt.Errorf("download-timeout: %s: must not be negative (0 means 10m)", c.DownloadTimeout))
	}
	if c.MaxModelBytes < 0 {
		errs = append(errs, fmt.Errorf("max-model-bytes: %d: must not be negative (0 means 4294967296)", c.MaxModelBytes))
	}
	return errs
}
