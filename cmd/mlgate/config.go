package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mlgate/mlgate/serve"
	"github.com/mlgate/mlgate/signature"
)

// Config is mlgate serve's configuration, from (highest precedence first)
// flags, environment variables, the YAML file given by --config, and
// defaults. YAML keys are the snake_case forms of the flag names.
type Config struct {
	Listen string `yaml:"listen"`
	// Network and access settings (docs/security.md, "Network and access").
	AdminListen         string        `yaml:"admin_listen"`
	GRPCListen          string        `yaml:"grpc_listen"`
	AdminTokenFile      string        `yaml:"admin_token_file"`
	AuthTokensFile      string        `yaml:"auth_tokens_file"`
	TLSCertFile         string        `yaml:"tls_cert_file"`
	TLSKeyFile          string        `yaml:"tls_key_file"`
	TLSClientCAFile     string        `yaml:"tls_client_ca_file"`
	MaxConnections      int           `yaml:"max_connections"`
	MaxConnectionsPerIP int           `yaml:"max_connections_per_ip"`
	ReadHeaderTimeout   time.Duration `yaml:"read_header_timeout"`
	ReadTimeout         time.Duration `yaml:"read_timeout"`
	IdleTimeout         time.Duration `yaml:"idle_timeout"`

	TrackingURI     string        `yaml:"tracking_uri"`
	RegistryURI     string        `yaml:"registry_uri"`
	ArtifactsRoot   string        `yaml:"artifacts_root"`
	CacheDir        string        `yaml:"cache_dir"`
	ONNXRuntimeLib  string        `yaml:"onnxruntime_lib"`
	Model           string        `yaml:"model"`
	ModelName       string        `yaml:"model_name"`
	DefaultRoute    string        `yaml:"default_route"`
	RequestTimeout  time.Duration `yaml:"request_timeout"`
	RegistryTimeout time.Duration `yaml:"registry_timeout"`
	DownloadTimeout time.Duration `yaml:"download_timeout"`
	MinDownloadRate int64         `yaml:"min_download_rate"`
	MaxModelBytes   int64         `yaml:"max_model_bytes"`
	CacheMaxBytes   int64         `yaml:"cache_max_bytes"`
	MaxBodyBytes    int           `yaml:"max_body_bytes"`
	Limits          RequestLimits `yaml:",inline"`
	MaxInflight     int           `yaml:"max_inflight"`
	MaxQueue        int           `yaml:"max_queue"`
	QueueTimeout    time.Duration `yaml:"queue_timeout"`
	LogLevel        string        `yaml:"log_level"`
	LogFormat       string        `yaml:"log_format"`
	// JSONNonFinite and MissingValues are every route's response and
	// request rules for non-finite numbers, unless a route sets its own.
	JSONNonFinite string `yaml:"json_non_finite"`
	MissingValues string `yaml:"missing_values"`

	PollInterval         time.Duration `yaml:"poll_interval"`
	OnMissing            string        `yaml:"on_missing"`
	MaxAttempts          int           `yaml:"max_attempts"`
	ModelCacheBytes      int64         `yaml:"model_cache_bytes"`
	WebhookSecret        string        `yaml:"webhook_secret"`
	WebhookAllowUnsigned bool          `yaml:"webhook_allow_unsigned"`
	AdminToken           string        `yaml:"admin_token"`
	Pprof                bool          `yaml:"pprof"`
	StatusEvents         int           `yaml:"status_events"`
	DrainDelay           time.Duration `yaml:"drain_delay"`
	ShutdownTimeout      time.Duration `yaml:"shutdown_timeout"`

	Inference  InferenceConfig  `yaml:"inference"`
	Provenance ProvenanceConfig `yaml:"provenance"`
	Artifacts  ArtifactsConfig  `yaml:"artifacts"`
	S3         S3Config         `yaml:"s3"`
	Routes     []RouteConfig    `yaml:"routes"`
	// RegistryRoutes serve registered models no route names, loaded on
	// their first request (docs/registry-routes.md), within
	// MaxLoadedBytes and MaxLoadedModels.
	RegistryRoutes   []RegistryRouteConfig `yaml:"registry_routes"`
	MaxLoadedBytes   int64                 `yaml:"max_loaded_bytes"`
	MaxLoadedModels  int                   `yaml:"max_loaded_models"`
	ColdStartTimeout time.Duration         `yaml:"cold_start_timeout"`
	IdleUnload       time.Duration         `yaml:"idle_unload"`

	// path is the config file's path, "" without one.
	path string
	// resolveJSON is mlgate resolve's --json; resolveAtVersion its
	// --at-version (0: what the URI points at).
	resolveJSON      bool
	resolveAtVersion int64
}

// InferenceConfig holds ONNX Runtime and batching settings.
type InferenceConfig struct {
	Workers        int           `yaml:"workers"`
	IntraOpThreads int           `yaml:"intra_op_threads"`
	InterOpThreads int           `yaml:"inter_op_threads"`
	Spinning       bool          `yaml:"spinning"`
	Batching       string        `yaml:"batching"`
	MaxBatchRows   int           `yaml:"max_batch_rows"`
	MaxBatchDelay  time.Duration `yaml:"max_batch_delay"`
	QueueRows      int           `yaml:"queue_rows"`
}

// RouteConfig is one named route: one model, or weighted targets with
// optional stickiness and shadow.
type RouteConfig struct {
	Name string `yaml:"name"`
	// Model is shorthand for a single target with all the traffic.
	Model   string         `yaml:"model"`
	Targets []TargetConfig `yaml:"targets"`
	Sticky  *StickyConfig  `yaml:"sticky"`
	Shadow  *ShadowConfig  `yaml:"shadow"`
	// Override allows the X-Model-Alias header to pick a target; nil means
	// true.
	Override *bool `yaml:"override"`
	// Batching overrides the inference batching settings for this route's
	// models (targets and shadow).
	Batching *BatchingConfig `yaml:"batching"`
	// Limits overrides max_rows and max_elements for this route.
	Limits *LimitsConfig `yaml:"limits"`
	// JSONNonFinite and MissingValues override the global settings for
	// this route; empty keeps them.
	JSONNonFinite string `yaml:"json_non_finite"`
	MissingValues string `yaml:"missing_values"`
}

// RegistryRouteConfig lets requests address registered models by name and
// alias (or version) without a route: see serve.RegistryRouteSpec.
type RegistryRouteConfig struct {
	Allow        []string `yaml:"allow"`
	Deny         []string `yaml:"deny"`
	Aliases      []string `yaml:"aliases"`
	Versions     bool     `yaml:"versions"`
	DefaultAlias string   `yaml:"default_alias"`
}

// ProvenanceConfig says which provenance a response carries besides the
// fixed headers.
type ProvenanceConfig struct {
	// Tags are the run tags sent as X-Mlflow-Tag-<Name> headers.
	Tags []string `yaml:"tags"`
}

// RequestLimits bound one scoring request and the memory of the requests
// in flight (max_rows, max_elements, max_inflight_bytes); see serve.Config.
type RequestLimits struct {
	MaxRows          int   `yaml:"max_rows"`
	MaxElements      int   `yaml:"max_elements"`
	MaxInflightBytes int64 `yaml:"max_inflight_bytes"`
}

// LimitsConfig is a route's request limits; zero fields keep the global
// setting.
type LimitsConfig struct {
	MaxRows     int `yaml:"max_rows"`
	MaxElements int `yaml:"max_elements"`
}

// BatchingConfig is a route's batching override; zero fields keep the
// global setting.
type BatchingConfig struct {
	Mode         string        `yaml:"mode"`
	MaxBatchRows int           `yaml:"max_batch_rows"`
	MaxDelay     time.Duration `yaml:"max_batch_delay"`
}

// TargetConfig is one weighted target of a route.
type TargetConfig struct {
	Model  string  `yaml:"model"`
	Weight float64 `yaml:"weight"`
}

// StickyConfig says where a route's cohort key comes from.
type StickyConfig struct {
	Header string `yaml:"header"`
	Column string `yaml:"column"`
}

// ShadowConfig copies sampled requests to a shadow model.
type ShadowConfig struct {
	Model  string  `yaml:"model"`
	Sample float64 `yaml:"sample"`
}

// ArtifactsConfig says where model artifacts may be read from besides the
// tracking server and the artifacts root.
type ArtifactsConfig struct {
	// AllowedHosts are other hosts (host, host:port or scheme://host[:port])
	// artifacts may be downloaded from; they never get the tracking
	// credentials.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// AllowedRoots are the local directories file: and plain-path
	// locations may be read from; empty means the artifacts root and the
	// cache directory.
	AllowedRoots []string `yaml:"allowed_roots"`
}

// S3Config holds the S3 settings that MLflow's variables do not cover.
type S3Config struct {
	// Anonymous reads s3:// artifacts with unsigned requests, for a public
	// bucket. Without it, finding no credentials is an error.
	Anonymous bool `yaml:"anonymous"`
}

func defaultConfig() Config {
	cache := filepath.Join(os.TempDir(), "mlgate-cache")
	if dir, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(dir, "mlgate")
	}
	return Config{
		Listen: "127.0.0.1:8080",
		// Network and access settings.
		AdminListen:       "127.0.0.1:8081",
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,

		CacheDir:         cache,
		RequestTimeout:   30 * time.Second,
		ColdStartTimeout: 30 * time.Second,
		IdleUnload:       10 * time.Minute,
		RegistryTimeout:  30 * time.Second,
		MaxBodyBytes:     16 << 20,
		Limits:           RequestLimits{MaxElements: 1 << 20, MaxInflightBytes: 256 << 20},
		MaxInflight:      512,
		MaxQueue:         512,
		QueueTimeout:     100 * time.Millisecond,
		LogLevel:         "info",
		LogFormat:        "json",
		JSONNonFinite:    "null",
		MissingValues:    "refuse",
		PollInterval:     5 * time.Second,
		OnMissing:        "keep",
		MaxAttempts:      5,
		ModelCacheBytes:  1 << 30,
		StatusEvents:     1000,
		DrainDelay:       5 * time.Second,
		ShutdownTimeout:  30 * time.Second,
		Inference:        InferenceConfig{Batching: "busy"},
	}
}

func env(name string) []string { return []string{"MLGATE_" + name} }

var serveSettings = []setting{
	{"config", env("CONFIG"), "YAML config file with settings and routes", nil},
	{"listen", env("LISTEN"), "address to serve on (default 127.0.0.1:8080)", str(func(c *Config) *string { return &c.Listen })},
	// Network and access settings.
	{"admin-listen", env("ADMIN_LISTEN"), "address of the admin endpoints (/admin/*, /debug/pprof/); a non-loopback one needs an admin token; equal to --listen to share its listener (default 127.0.0.1:8081)",
		str(func(c *Config) *string { return &c.AdminListen })},
	{"grpc-listen", env("GRPC_LISTEN"), "address of the Open Inference Protocol's gRPC service (inference.GRPCInferenceService and grpc.health.v1), with the main listener's TLS and scoring tokens (default: none, gRPC off)",
		str(func(c *Config) *string { return &c.GRPCListen })},
	{"admin-token-file", env("ADMIN_TOKEN_FILE"), "file holding the admin token, re-read when it changes (instead of --admin-token)",
		str(func(c *Config) *string { return &c.AdminTokenFile })},
	{"auth-tokens-file", env("AUTH_TOKENS_FILE"), "file of bearer tokens scoring requests need, one per line, # comments; re-read when it changes (default: none, scoring open)",
		str(func(c *Config) *string { return &c.AuthTokensFile })},
	{"tls-cert-file", env("TLS_CERT_FILE"), "PEM certificate chain: serve HTTPS on both listeners; re-read when it changes (default: plain HTTP)",
		str(func(c *Config) *string { return &c.TLSCertFile })},
	{"tls-key-file", env("TLS_KEY_FILE"), "PEM private key of --tls-cert-file",
		str(func(c *Config) *string { return &c.TLSKeyFile })},
	{"tls-client-ca-file", env("TLS_CLIENT_CA_FILE"), "PEM CA certificates: the main listener requires client certificates they signed (mutual TLS)",
		str(func(c *Config) *string { return &c.TLSClientCAFile })},
	{"max-connections", env("MAX_CONNECTIONS"), "open connections on the main listener; beyond it new ones are closed at once (default 0: the open-file limit less a reserve)",
		integer(func(c *Config) *int { return &c.MaxConnections })},
	{"max-connections-per-ip", env("MAX_CONNECTIONS_PER_IP"), "open connections from one client address (default 0: no limit)",
		integer(func(c *Config) *int { return &c.MaxConnectionsPerIP })},
	{"read-header-timeout", env("READ_HEADER_TIMEOUT"), "time to receive a request's headers, and a body of at most 64 KiB, from the accept or a kept-alive connection's next first byte (default 10s)",
		dur(func(c *Config) *time.Duration { return &c.ReadHeaderTimeout })},
	{"read-timeout", env("READ_TIMEOUT"), "time to receive a request's body larger than 64 KiB once its headers are in (default 30s)",
		dur(func(c *Config) *time.Duration { return &c.ReadTimeout })},
	{"idle-timeout", env("IDLE_TIMEOUT"), "keep-alive connections idle this long are closed (default 120s)",
		dur(func(c *Config) *time.Duration { return &c.IdleTimeout })},

	{"model", env("MODEL"), "serve this models:/ URI as the only route (instead of routes in --config)",
		str(func(c *Config) *string { return &c.Model })},
	{"model-name", env("MODEL_NAME"), "name of the route --model serves, as in /routes/<name>/invocations and /v2/models/<name> (default \"default\")",
		str(func(c *Config) *string { return &c.ModelName })},
	{"tracking-uri", []string{"MLGATE_TRACKING_URI", "MLFLOW_TRACKING_URI"},
		"MLflow tracking server (http(s)://host:port) or local store (sqlite:///path/mlflow.db)",
		str(func(c *Config) *string { return &c.TrackingURI })},
	{"registry-uri", []string{"MLGATE_REGISTRY_URI", "MLFLOW_REGISTRY_URI"}, "MLflow registry URI when it differs from the tracking URI",
		str(func(c *Config) *string { return &c.RegistryURI })},
	{"artifacts-root", env("ARTIFACTS_ROOT"), "directory behind mlflow-artifacts:/ locations of a local store (the server's --artifacts-destination)",
		str(func(c *Config) *string { return &c.ArtifactsRoot })},
	{"cache-dir", env("CACHE_DIR"), "on-disk cache of downloaded model versions (default <user cache dir>/mlgate)",
		str(func(c *Config) *string { return &c.CacheDir })},
	{"onnxruntime-lib", env("ONNXRUNTIME_LIB"), "path of libonnxruntime.so (default: next to the binary, then the system)",
		str(func(c *Config) *string { return &c.ONNXRuntimeLib })},
	{"default-route", env("DEFAULT_ROUTE"), "route that serves POST /invocations (default: the first)",
		str(func(c *Config) *string { return &c.DefaultRoute })},
	{"request-timeout", env("REQUEST_TIMEOUT"), "deadline of one scoring request (default 30s)",
		dur(func(c *Config) *time.Duration { return &c.RequestTimeout })},
	{"registry-timeout", env("REGISTRY_TIMEOUT"), "timeout of one registry or artifact request (default 30s)",
		dur(func(c *Config) *time.Duration { return &c.RegistryTimeout })},
	{"download-timeout", env("DOWNLOAD_TIMEOUT"), "deadline of downloading one model version (default 10m)",
		dur(func(c *Config) *time.Duration { return &c.DownloadTimeout })},
	{"min-download-rate", env("MIN_DOWNLOAD_RATE"), "abandon a download slower than this many bytes/s over 30s; -1 for no minimum (default 65536)",
		int64s(func(c *Config) *int64 { return &c.MinDownloadRate })},
	{"max-model-bytes", env("MAX_MODEL_BYTES"), "largest model version downloaded, all files together (default 4294967296)",
		int64s(func(c *Config) *int64 { return &c.MaxModelBytes })},
	{"cache-max-bytes", env("CACHE_MAX_BYTES"), "disk budget of --cache-dir: least recently used versions are removed beyond it, never the last good version of a served URI; -1 for no budget (default 10737418240)",
		int64s(func(c *Config) *int64 { return &c.CacheMaxBytes })},
	{"artifacts-allowed-hosts", env("ARTIFACTS_ALLOWED_HOSTS"), "comma-separated hosts besides the tracking server that artifacts may come from, never with its credentials (default none)",
		list(func(c *Config) *[]string { return &c.Artifacts.AllowedHosts })},
	{"artifacts-allowed-roots", env("ARTIFACTS_ALLOWED_ROOTS"), "comma-separated local directories file: artifact locations may be read from (default the artifacts root and the cache dir)",
		list(func(c *Config) *[]string { return &c.Artifacts.AllowedRoots })},
	s3AnonymousSetting,
	{"max-body-bytes", env("MAX_BODY_BYTES"), "largest request body accepted, 413 beyond (default 16777216)",
		integer(func(c *Config) *int { return &c.MaxBodyBytes })},
	{"max-rows", env("MAX_ROWS"), "most rows in one scoring request, 413 beyond (default 0: max-elements divided by the model's values per row)",
		integer(func(c *Config) *int { return &c.Limits.MaxRows })},
	{"max-elements", env("MAX_ELEMENTS"), "most values in one scoring request (its rows × columns), 413 beyond (default 1048576)",
		integer(func(c *Config) *int { return &c.Limits.MaxElements })},
	{"max-inflight-bytes", env("MAX_INFLIGHT_BYTES"), "memory the scoring requests in flight may hold, as estimated from each request; beyond it requests wait, then get 429; -1 for no limit (default 268435456)",
		int64s(func(c *Config) *int64 { return &c.Limits.MaxInflightBytes })},
	{"max-inflight", env("MAX_INFLIGHT"), "scoring requests served at once; -1 for no limit (default 512)",
		integer(func(c *Config) *int { return &c.MaxInflight })},
	{"max-queue", env("MAX_QUEUE"), "scoring requests that may wait for a slot before 429 (default 512)",
		integer(func(c *Config) *int { return &c.MaxQueue })},
	{"queue-timeout", env("QUEUE_TIMEOUT"), "how long a request waits for a slot before 429 (default 100ms)",
		dur(func(c *Config) *time.Duration { return &c.QueueTimeout })},
	{"poll-interval", env("POLL_INTERVAL"), "how often each models:/ URI is re-resolved, ±10% jitter (default 5s)",
		dur(func(c *Config) *time.Duration { return &c.PollInterval })},
	{"on-missing", env("ON_MISSING"), "when an alias or version vanishes: keep (serve the last good version, stale) or withdraw (503) (default keep)",
		str(func(c *Config) *string { return &c.OnMissing })},
	{"max-attempts", env("MAX_ATTEMPTS"), "failed downloads or loads of one new version before giving up on it until the alias moves again; an unreachable registry or artifact store does not count (default 5)",
		integer(func(c *Config) *int { return &c.MaxAttempts })},
	{"model-cache-bytes", env("MODEL_CACHE_BYTES"), "bytes of loaded versions kept while no route serves them, for quick flips back; serving versions are never evicted (default 1073741824)",
		int64s(func(c *Config) *int64 { return &c.ModelCacheBytes })},
	{"webhook-secret", env("WEBHOOK_SECRET"), "secret of the MLflow webhook posting to /webhooks/mlflow (without it the endpoint is off)",
		str(func(c *Config) *string { return &c.WebhookSecret })},
	{"webhook-allow-unsigned", env("WEBHOOK_ALLOW_UNSIGNED"), "accept webhook deliveries without a signature when no secret is set (default false)",
		boolean(func(c *Config) *bool { return &c.WebhookAllowUnsigned })},
	{"admin-token", env("ADMIN_TOKEN"), "bearer token required on /admin/* and /debug/pprof/, at least 16 characters (default: none; allowed only with a loopback --admin-listen)",
		str(func(c *Config) *string { return &c.AdminToken })},
	{"pprof", env("PPROF"), "serve Go runtime profiles at /debug/pprof/ on the admin listener, guarded like /admin/* (default false)",
		boolean(func(c *Config) *bool { return &c.Pprof })},
	{"max-loaded-bytes", env("MAX_LOADED_BYTES"), "memory budget over every loaded model version, configured or on demand, as measured at load; models loaded on demand are unloaded least recently used first to stay within it (default 0: none)",
		int64s(func(c *Config) *int64 { return &c.MaxLoadedBytes })},
	{"max-loaded-models", env("MAX_LOADED_MODELS"), "how many models registry routes keep loaded on demand at once, least recently used unloaded first (default 0: no limit)",
		integer(func(c *Config) *int { return &c.MaxLoadedModels })},
	{"cold-start-timeout", env("COLD_START_TIMEOUT"), "how long a request through a registry route waits for its model to load before 503 with Retry-After; the load goes on (default 30s)",
		dur(func(c *Config) *time.Duration { return &c.ColdStartTimeout })},
	{"idle-unload", env("IDLE_UNLOAD"), "a model loaded on demand and not requested for this long is unloaded and no longer polled (default 10m)",
		dur(func(c *Config) *time.Duration { return &c.IdleUnload })},
	{"status-events", env("STATUS_EVENTS"), "events (alias moves, loads, swaps, retirements, failures) the status page's timeline keeps in memory (default 1000)",
		integer(func(c *Config) *int { return &c.StatusEvents })},
	{"drain-delay", env("DRAIN_DELAY"), "on SIGTERM, time between reporting not ready and closing the listener (default 5s)",
		dur(func(c *Config) *time.Duration { return &c.DrainDelay })},
	{"shutdown-timeout", env("SHUTDOWN_TIMEOUT"), "on SIGTERM, time allowed for in-flight requests to finish (default 30s)",
		dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{"json-non-finite", env("JSON_NON_FINITE"), "how responses write NaN and ±Infinity: null (RFC 8259 JSON) or python (NaN, Infinity, as MLflow's scoring server); a route's json_non_finite wins (default null)",
		str(func(c *Config) *string { return &c.JSONNonFinite })},
	{"missing-values", env("MISSING_VALUES"), "null, NaN and ±Infinity in a required float or double column: refuse (400 naming the column) or nan (taken as MLflow does); a route's missing_values wins (default refuse)",
		str(func(c *Config) *string { return &c.MissingValues })},
	{"provenance-tags", env("PROVENANCE_TAGS"), "comma-separated run tags sent as X-Mlflow-Tag-<Name> response headers (default none)",
		list(func(c *Config) *[]string { return &c.Provenance.Tags })},
	{"log-level", env("LOG_LEVEL"), "debug, info, warn or error (default info)", str(func(c *Config) *string { return &c.LogLevel })},
	{"log-format", env("LOG_FORMAT"), "json or text (default json)", str(func(c *Config) *string { return &c.LogFormat })},
	{"workers", env("WORKERS"), "concurrent ONNX Runtime calls per model version (0: automatic, one per core or half that for models that batch well)",
		integer(func(c *Config) *int { return &c.Inference.Workers })},
	{"intra-op-threads", env("INTRA_OP_THREADS"), "ONNX Runtime intra-op threads per session (0: 1)",
		integer(func(c *Config) *int { return &c.Inference.IntraOpThreads })},
	{"inter-op-threads", env("INTER_OP_THREADS"), "ONNX Runtime inter-op threads per session (0: 1)",
		integer(func(c *Config) *int { return &c.Inference.InterOpThreads })},
	{"spinning", env("SPINNING"), "let ONNX Runtime threads spin while idle (default false)",
		boolean(func(c *Config) *bool { return &c.Inference.Spinning })},
	{"batching", env("BATCHING"), "off, busy or window (default busy)", str(func(c *Config) *string { return &c.Inference.Batching })},
	{"max-batch-rows", env("MAX_BATCH_ROWS"), "most rows gathered into one ONNX Runtime run (0: 64)",
		integer(func(c *Config) *int { return &c.Inference.MaxBatchRows })},
	{"max-batch-delay", env("MAX_BATCH_DELAY"), "batching window in window mode (0: 500µs)",
		dur(func(c *Config) *time.Duration { return &c.Inference.MaxBatchDelay })},
	{"queue-rows", env("QUEUE_ROWS"), "rows that may wait for a worker per model before 429 (0: 4096)",
		integer(func(c *Config) *int { return &c.Inference.QueueRows })},
}

// s3AnonymousSetting is s3.anonymous, for serve and resolve.
var s3AnonymousSetting = setting{"s3-anonymous", env("S3_ANONYMOUS"),
	"read s3:// artifacts with unsigned requests, for a public bucket (default false: without credentials from the AWS chain, S3 downloads fail)",
	boolean(func(c *Config) *bool { return &c.S3.Anonymous })}

// readFile overlays the YAML file at path on c. Unknown keys are errors.
// Relative paths in the file are relative to the file's directory.
func (c *Config) readFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	c.path = path
	base := filepath.Dir(path)
	c.TrackingURI = relativeStoreURI(c.TrackingURI, base)
	c.RegistryURI = relativeStoreURI(c.RegistryURI, base)
	for _, p := range []*string{&c.ArtifactsRoot, &c.CacheDir, &c.ONNXRuntimeLib,
		&c.AdminTokenFile, &c.AuthTokensFile, &c.TLSCertFile, &c.TLSKeyFile, &c.TLSClientCAFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	for i, p := range c.Artifacts.AllowedRoots {
		if p != "" && !filepath.IsAbs(p) {
			c.Artifacts.AllowedRoots[i] = filepath.Join(base, p)
		}
	}
	return nil
}

// relativeStoreURI makes a relative sqlite:/// path in a config file
// relative to the file's directory. (SQLAlchemy's sqlite:///rel is relative
// to the working directory; sqlite:////abs is absolute.)
func relativeStoreURI(uri, base string) string {
	const prefix = "sqlite:///"
	if !strings.HasPrefix(uri, prefix) || strings.HasPrefix(uri, prefix+"/") {
		return uri
	}
	return prefix + filepath.Join(base, strings.TrimPrefix(uri, prefix))
}

// validate checks the settings that can be checked without I/O. Every error
// names the setting.
func (c *Config) validate() error {
	var p problems
	c.validateServed(p.add)
	c.validateTimeouts(p.add)
	p = append(p, c.validateDownloads()...)
	c.validateAdmission(p.add)
	c.validateFollowing(p.add)
	c.validateChoices(p.add)
	for i, r := range c.Routes {
		r.validate(fmt.Sprintf("routes[%d]", i), p.add)
	}
	return errors.Join(p...)
}

// problems collects configuration errors.
type problems []error

// add records that setting name is wrong, and why.
func (p *problems) add(name, format string, args ...any) {
	*p = append(*p, fmt.Errorf(name+": "+format, args...))
}

// bad is how a validation step reports a wrong setting.
type bad func(name, format string, args ...any)

// validateServed checks where mlgate listens, the registry, and that it has
// models to serve.
func (c *Config) validateServed(bad bad) {
	if c.Listen == "" {
		bad("listen", "empty address")
	}
	c.validateNetwork(bad)
	if c.TrackingURI == "" {
		bad("tracking-uri", "not set: give --tracking-uri, MLFLOW_TRACKING_URI, or tracking_uri in the config file (http(s)://… or sqlite:///…)")
	}
	if c.Model != "" && len(c.Routes) > 0 {
		bad("model", "--model %s and routes in %s both name models; give one or the other", c.Model, c.path)
	}
	if c.Model == "" && len(c.Routes) == 0 && len(c.RegistryRoutes) == 0 {
		bad("model", "nothing to serve: give --model models:/name@alias, or routes or registry_routes in --config")
	}
	c.validateRegistryRoutes(bad)
	if c.ModelName != "" && c.Model == "" {
		bad("model-name", "%q names the route of --model, which is not set", c.ModelName)
	}
}

func (c *Config) validateTimeouts(bad bad) {
	if c.RequestTimeout <= 0 {
		bad("request-timeout", "%s: must be positive", c.RequestTimeout)
	}
	if c.RegistryTimeout <= 0 {
		bad("registry-timeout", "%s: must be positive", c.RegistryTimeout)
	}
}

// validateAdmission checks the limits on scoring requests.
func (c *Config) validateAdmission(bad bad) {
	if c.MaxBodyBytes <= 0 {
		bad("max-body-bytes", "%d: must be positive", c.MaxBodyBytes)
	}
	if l := c.Limits; l.MaxRows < 0 {
		bad("max-rows", "%d: must not be negative (0 derives it from max-elements and the model)", l.MaxRows)
	}
	if l := c.Limits; l.MaxElements <= 0 {
		bad("max-elements", "%d: must be positive", l.MaxElements)
	}
	if l := c.Limits; l.MaxInflightBytes == 0 || l.MaxInflightBytes < -1 {
		bad("max-inflight-bytes", "%d: want a positive number, or -1 for no limit", l.MaxInflightBytes)
	}
	if c.MaxInflight == 0 || c.MaxInflight < -1 {
		bad("max-inflight", "%d: want a positive number, or -1 for no limit", c.MaxInflight)
	}
	if c.MaxQueue < 0 {
		bad("max-queue", "%d: must not be negative", c.MaxQueue)
	}
	if c.QueueTimeout <= 0 {
		bad("queue-timeout", "%s: must be positive", c.QueueTimeout)
	}
}

// validateFollowing checks how the registry is followed, how loaded
// versions are kept, and how mlgate stops.
func (c *Config) validateFollowing(bad bad) {
	if c.PollInterval <= 0 {
		bad("poll-interval", "%s: must be positive", c.PollInterval)
	}
	if c.OnMissing != "keep" && c.OnMissing != "withdraw" {
		bad("on-missing", "%q: want keep or withdraw", c.OnMissing)
	}
	if c.MaxAttempts <= 0 {
		bad("max-attempts", "%d: must be positive", c.MaxAttempts)
	}
	if c.ModelCacheBytes < 0 {
		bad("model-cache-bytes", "%d: must not be negative", c.ModelCacheBytes)
	}
	if c.StatusEvents < 1 || c.StatusEvents > 100_000 {
		bad("status-events", "%d: want 1 to 100000", c.StatusEvents)
	}
	if c.DrainDelay < 0 {
		bad("drain-delay", "%s: must not be negative", c.DrainDelay)
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown-timeout", "%s: must be positive", c.ShutdownTimeout)
	}
}

// validateRegistryRoutes checks registry_routes and the memory budget.
func (c *Config) validateRegistryRoutes(bad bad) {
	if err := serve.ValidateRegistryRoutes(c.registrySpecs()); err != nil {
		bad("registry_routes", "%v", err)
	}
	if c.MaxLoadedBytes < 0 {
		bad("max-loaded-bytes", "%d: must not be negative", c.MaxLoadedBytes)
	}
	if c.MaxLoadedModels < 0 {
		bad("max-loaded-models", "%d: must not be negative", c.MaxLoadedModels)
	}
	if c.ColdStartTimeout <= 0 {
		bad("cold-start-timeout", "%s: must be positive", c.ColdStartTimeout)
	}
	if c.IdleUnload <= 0 {
		bad("idle-unload", "%s: must be positive", c.IdleUnload)
	}
}

// registrySpecs returns registry_routes as serve takes them.
func (c *Config) registrySpecs() []serve.RegistryRouteSpec {
	var out []serve.RegistryRouteSpec
	for _, r := range c.RegistryRoutes {
		out = append(out, serve.RegistryRouteSpec{Allow: r.Allow, Deny: r.Deny, Aliases: r.Aliases,
			Versions: r.Versions, DefaultAlias: r.DefaultAlias})
	}
	return out
}

// validateChoices checks the settings that take one of a few words.
func (c *Config) validateChoices(bad bad) {
	switch c.Inference.Batching {
	case "off", "busy", "window":
	default:
		bad("batching", "%q: want off, busy or window", c.Inference.Batching)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		bad("log-format", "%q: want json or text", c.LogFormat)
	}
	if _, err := signature.ParseNonFinite(c.JSONNonFinite); err != nil {
		bad("json-non-finite", "%v", err)
	}
	if _, err := signature.ParseMissingValues(c.MissingValues); err != nil {
		bad("missing-values", "%v", err)
	}
	if _, err := serve.TagHeaders(c.Provenance.Tags); err != nil {
		bad("provenance-tags", "%v", err)
	}
}

// validate checks the route at path at ("routes[2]").
func (r RouteConfig) validate(at string, bad bad) {
	if r.Name == "" {
		bad(at+".name", "empty")
	}
	switch {
	case r.Model != "" && len(r.Targets) > 0:
		bad(at, "route %q has both model and targets; give one", r.Name)
	case r.Model == "" && len(r.Targets) == 0:
		bad(at+".model", "empty (route %q): give model or targets", r.Name)
	}
	r.validateTargets(at, bad)
	if st := r.Sticky; st != nil && (st.Header == "") == (st.Column == "") {
		bad(at+".sticky", "give exactly one of header or column (route %q)", r.Name)
	}
	if b := r.Batching; b != nil {
		switch b.Mode {
		case "", "off", "busy", "window":
		default:
			bad(at+".batching.mode", "%q: want off, busy or window (route %q)", b.Mode, r.Name)
		}
		if b.MaxBatchRows < 0 || b.MaxDelay < 0 {
			bad(at+".batching", "max_batch_rows and max_batch_delay must not be negative (route %q)", r.Name)
		}
	}
	if l := r.Limits; l != nil && (l.MaxRows < 0 || l.MaxElements < 0) {
		bad(at+".limits", "max_rows and max_elements must not be negative (route %q)", r.Name)
	}
	if r.JSONNonFinite != "" {
		if _, err := signature.ParseNonFinite(r.JSONNonFinite); err != nil {
			bad(at+".json_non_finite", "%v (route %q)", err, r.Name)
		}
	}
	if r.MissingValues != "" {
		if _, err := signature.ParseMissingValues(r.MissingValues); err != nil {
			bad(at+".missing_values", "%v (route %q)", err, r.Name)
		}
	}
	if sh := r.Shadow; sh != nil {
		if sh.Model == "" {
			bad(at+".shadow.model", "empty (route %q)", r.Name)
		}
		if sh.Sample < 0 || sh.Sample > 1 {
			bad(at+".shadow.sample", "%g: want a fraction in (0, 1] (route %q)", sh.Sample, r.Name)
		}
	}
}

func (r RouteConfig) validateTargets(at string, bad bad) {
	positive := false
	for k, tg := range r.Targets {
		if tg.Model == "" {
			bad(fmt.Sprintf("%s.targets[%d].model", at, k), "empty (route %q)", r.Name)
		}
		if tg.Weight < 0 {
			bad(fmt.Sprintf("%s.targets[%d].weight", at, k), "%g is negative (route %q)", tg.Weight, r.Name)
		}
		positive = positive || tg.Weight > 0
	}
	if len(r.Targets) > 1 && !positive {
		bad(at+".targets", "every weight is 0 (route %q); give at least one a positive weight", r.Name)
	}
}

// sharedAdmin reports whether the admin endpoints share the main
// listener: admin-listen equals listen and names a port (with port 0 each
// gets a port of its own).
func (c *Config) sharedAdmin() bool {
	_, port, err := net.SplitHostPort(c.Listen)
	return c.AdminListen == c.Listen && err == nil && port != "0"
}

// validateNetwork checks the listener, access and connection settings.
func (c *Config) validateNetwork(bad func(name, format string, args ...any)) {
	if c.AdminListen == "" {
		bad("admin-listen", "empty address (default 127.0.0.1:8081)")
	}
	if c.AdminToken != "" && c.AdminTokenFile != "" {
		bad("admin-token", "give admin-token (MLGATE_ADMIN_TOKEN) or admin-token-file, not both")
	}
	if c.GRPCListen != "" {
		if _, port, err := net.SplitHostPort(c.GRPCListen); err != nil {
			bad("grpc-listen", "%q is not host:port", c.GRPCListen)
		} else if port != "0" && (c.GRPCListen == c.Listen || c.GRPCListen == c.AdminListen) {
			bad("grpc-listen", "%s is also the address of listen or admin-listen; gRPC needs a port of its own", c.GRPCListen)
		}
	}
	if c.AdminToken != "" {
		if err := serve.CheckToken(c.AdminToken); err != nil {
			bad("admin-token", "%v", err)
		}
	}
	if c.AdminListen != "" && !serve.IsLoopback(c.AdminListen) && c.AdminToken == "" && c.AdminTokenFile == "" {
		what := "admin-listen " + c.AdminListen
		if c.sharedAdmin() {
			what = "listen " + c.Listen + ", shared with admin-listen,"
		}
		bad("admin-listen", "%s is not a loopback address, so /admin/* would be open to the network: set admin-token (MLGATE_ADMIN_TOKEN) or admin-token-file, or listen on 127.0.0.1", what)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		bad("tls-cert-file", "give tls-cert-file and tls-key-file together")
	}
	if c.TLSClientCAFile != "" && c.TLSCertFile == "" {
		bad("tls-client-ca-file", "mutual TLS needs tls-cert-file and tls-key-file")
	}
	if c.MaxConnections < 0 {
		bad("max-connections", "%d: want a positive number, or 0 for the default", c.MaxConnections)
	}
	if c.MaxConnectionsPerIP < 0 {
		bad("max-connections-per-ip", "%d: want a positive number, or 0 for no limit", c.MaxConnectionsPerIP)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read-header-timeout", c.ReadHeaderTimeout}, {"read-timeout", c.ReadTimeout}, {"idle-timeout", c.IdleTimeout}} {
		if d.v <= 0 {
			bad(d.name, "%s: must be positive", d.v)
		}
	}
}
