package resolver

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults for zero Config fields.
const (
	// DefaultTimeout bounds one registry call, and one stall of an artifact
	// download.
	DefaultTimeout = 30 * time.Second
	// DefaultUserAgent is sent when Config.UserAgent is empty.
	DefaultUserAgent = "mlgate/dev"
	// DefaultMaxModelBytes caps the artifacts of one version: 4 GiB.
	DefaultMaxModelBytes = 4 << 30
	// DefaultDownloadTimeout bounds the download of one version.
	DefaultDownloadTimeout = 10 * time.Minute
	// DefaultMinDownloadRate is the slowest download kept going, in bytes
	// per second averaged over DefaultRateWindow: 64 KiB/s.
	DefaultMinDownloadRate = 64 << 10
	// DefaultRateWindow is the period the minimum rate is measured over.
	DefaultRateWindow = 30 * time.Second
)

// Config configures a Resolver. The zero value of each field means the
// default its comment states. Config is read by New and not retained by
// reference.
type Config struct {
	// TrackingURI is the MLflow tracking server: http(s)://host[:port][/prefix]
	// (the path prefix is kept) or a local SQLite store in SQLAlchemy form,
	// sqlite:///relative/path.db or sqlite:////absolute/path.db. Runs,
	// LoggedModels and mlflow-artifacts: downloads go here. Required
	// (MLFLOW_TRACKING_URI).
	TrackingURI string
	// RegistryURI is where registered models are resolved, in the same forms
	// as TrackingURI. Empty means TrackingURI (MLFLOW_REGISTRY_URI).
	RegistryURI string
	// ArtifactsRoot is the directory (or s3://bucket/prefix) that the MLflow
	// server's --artifacts-destination points at. It is used only when the
	// tracking store is SQLite, to map mlflow-artifacts:/<path> to
	// ArtifactsRoot/<path>. Empty means the mlartifacts directory beside
	// a SQLite store's file when there is one (mlflow server's default
	// --artifacts-destination), else such URIs cannot be read from SQLite.
	ArtifactsRoot string
	// CacheDir holds downloaded artifacts and the last good resolution of
	// each URI. Empty means <os.UserCacheDir()>/mlgate.
	CacheDir string
	// Timeout bounds each registry call and each stall (no bytes received)
	// of an artifact download; the caller's context still applies. Zero
	// means DefaultTimeout (MLFLOW_HTTP_REQUEST_TIMEOUT, in seconds).
	Timeout time.Duration

	// Token is sent as "Authorization: Bearer <Token>" unless Username and
	// Password are both set (MLFLOW_TRACKING_TOKEN).
	Token string
	// Username and Password are sent as HTTP Basic auth; both or neither
	// must be set. Basic wins over Token, as in MLflow's client
	// (MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD).
	Username, Password string
	// InsecureTLS skips server certificate verification. It cannot be
	// combined with ServerCertPath (MLFLOW_TRACKING_INSECURE_TLS).
	InsecureTLS bool
	// ServerCertPath is a PEM CA bundle used to verify the server. Empty
	// means the system roots (MLFLOW_TRACKING_SERVER_CERT_PATH).
	ServerCertPath string
	// ClientCertPath is a PEM file holding a client certificate and its key,
	// for mutual TLS. Empty means none (MLFLOW_TRACKING_CLIENT_CERT_PATH).
	ClientCertPath string

	// S3 configures s3:// artifact downloads.
	S3 S3Config

	// AllowedHosts lists the hosts other than the tracking and registry
	// servers that artifacts may be downloaded from (http(s):// artifact
	// locations, mlflow-artifacts://host/ locations, redirects), as host,
	// host:port or scheme://host[:port]; a missing scheme matches http and
	// https, a missing port any port. They never receive the tracking
	// credentials (token, basic auth, client certificate), which go only
	// to the tracking and registry servers' own scheme, host and port.
	// Empty means no other host.
	AllowedHosts []string
	// AllowedRoots lists the local directories that file: and plain-path
	// artifact locations may be read from; symbolic links may not leave
	// them. Empty means ArtifactsRoot (when it is a directory) and
	// CacheDir.
	AllowedRoots []string
	// MaxModelBytes caps the bytes of one version's artifacts, as listed
	// and as received. Zero means DefaultMaxModelBytes.
	MaxModelBytes int64
	// CacheMaxBytes is the disk budget of CacheDir's versions (see
	// CacheConfig.MaxBytes). Zero means DefaultCacheMaxBytes; negative
	// means no budget.
	CacheMaxBytes int64
	// DownloadTimeout bounds the download of one version's artifacts (and
	// one ReadFile). Zero means DefaultDownloadTimeout.
	DownloadTimeout time.Duration
	// MinDownloadRate abandons a download that brings fewer bytes than
	// this per second, averaged over each RateWindow. Zero means
	// DefaultMinDownloadRate; negative means no minimum.
	MinDownloadRate int64
	// RateWindow is the period MinDownloadRate is measured over. Zero
	// means DefaultRateWindow.
	RateWindow time.Duration

	// UserAgent is sent on every HTTP request. Empty means DefaultUserAgent;
	// callers set "mlgate/<version>".
	UserAgent string
	// Logger receives download and resolution logs. Nil means no logging.
	Logger *slog.Logger
	// WrapTransport, when set, wraps the HTTP transport of registry and
	// artifact requests (mlgate uses it to propagate trace context and
	// record client spans). Nil means the plain transport.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// S3Config configures s3:// artifact downloads, mirroring the settings
// MLflow's own S3 artifact repository (boto3) reads from the environment.
//
// Requests are signed with the first credentials found, in the order AWS
// clients use: AccessKeyID and SecretAccessKey; the shared credentials
// file's profile; web identity; the container or instance role. When none
// of them gives credentials, a download fails with an error naming each
// source and why it gave none; requests are sent unsigned only when
// Anonymous is set.
type S3Config struct {
	// EndpointURL is an S3-compatible endpoint such as http://minio:9000.
	// Empty means AWS S3 (MLFLOW_S3_ENDPOINT_URL). Signed requests go only
	// here.
	EndpointURL string
	// IgnoreTLS skips certificate verification (MLFLOW_S3_IGNORE_TLS).
	IgnoreTLS bool
	// AccessKeyID, SecretAccessKey and SessionToken are static keys, the
	// first source tried; both halves or neither must be set
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
	AccessKeyID, SecretAccessKey, SessionToken string
	// Region is the bucket region. Empty means us-east-1 for requests, and
	// the global AWS STS endpoint for web identity (AWS_REGION, else
	// AWS_DEFAULT_REGION).
	Region string
	// SharedCredentialsFile is the INI file of profiles, the second
	// source. Empty means ~/.aws/credentials, skipped when it does not
	// exist (AWS_SHARED_CREDENTIALS_FILE). ~/.aws/config is not read.
	SharedCredentialsFile string
	// Profile is the profile of SharedCredentialsFile. Empty means
	// "default", skipped when the file has no such profile; a profile
	// named here must exist (AWS_PROFILE).
	Profile string
	// WebIdentityTokenFile holds a token (an EKS service account token, as
	// IRSA mounts it) exchanged for credentials with STS
	// AssumeRoleWithWebIdentity as RoleARN, the third source; empty skips
	// it (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN,
	// AWS_ROLE_SESSION_NAME).
	WebIdentityTokenFile, RoleARN, RoleSessionName string
	// STSEndpoint receives the web identity token. Empty means AWS STS in
	// Region (AWS_ENDPOINT_URL_STS).
	STSEndpoint string
	// MetadataEndpoint is the EC2 instance metadata service, the last
	// source (ECS and EKS Pod Identity container credentials are used
	// instead when AWS_CONTAINER_CREDENTIALS_* is set). Empty means
	// http://169.254.169.254 (AWS_EC2_METADATA_SERVICE_ENDPOINT).
	MetadataEndpoint string
	// MetadataDisabled skips the container and instance role
	// (AWS_EC2_METADATA_DISABLED).
	MetadataDisabled bool
	// MetadataTimeout bounds one attempt at the container or instance
	// role. Zero means DefaultMetadataTimeout
	// (AWS_METADATA_SERVICE_TIMEOUT, in seconds).
	MetadataTimeout time.Duration
	// Anonymous sends unsigned requests, for a public bucket, and looks
	// for no credentials. It has no MLflow variable; mlgate sets it from
	// s3.anonymous (MLGATE_S3_ANONYMOUS).
	Anonymous bool
}

// ConfigFromEnv reads the MLflow client settings from getenv (normally
// os.Getenv): MLFLOW_TRACKING_URI, MLFLOW_REGISTRY_URI, MLFLOW_TRACKING_TOKEN,
// MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD,
// MLFLOW_TRACKING_INSECURE_TLS, MLFLOW_TRACKING_SERVER_CERT_PATH,
// MLFLOW_TRACKING_CLIENT_CERT_PATH, MLFLOW_HTTP_REQUEST_TIMEOUT, and for S3
// MLFLOW_S3_ENDPOINT_URL, MLFLOW_S3_IGNORE_TLS and the AWS variables S3Config
// names.
// Unset variables leave the field at its zero value. A malformed value is an
// error naming the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	cfg := Config{
		TrackingURI:    get("MLFLOW_TRACKING_URI"),
		RegistryURI:    get("MLFLOW_REGISTRY_URI"),
		Token:          get("MLFLOW_TRACKING_TOKEN"),
		Username:       get("MLFLOW_TRACKING_USERNAME"),
		Password:       getenv("MLFLOW_TRACKING_PASSWORD"),
		ServerCertPath: get("MLFLOW_TRACKING_SERVER_CERT_PATH"),
		ClientCertPath: get("MLFLOW_TRACKING_CLIENT_CERT_PATH"),
		S3: S3Config{
			EndpointURL:     get("MLFLOW_S3_ENDPOINT_URL"),
			AccessKeyID:     get("AWS_ACCESS_KEY_ID"),
			SecretAccessKey: get("AWS_SECRET_ACCESS_KEY"),
			SessionToken:    get("AWS_SESSION_TOKEN"),
			Region:          get("AWS_REGION"),

			SharedCredentialsFile: get("AWS_SHARED_CREDENTIALS_FILE"),
			Profile:               get("AWS_PROFILE"),
			WebIdentityTokenFile:  get("AWS_WEB_IDENTITY_TOKEN_FILE"),
			RoleARN:               get("AWS_ROLE_ARN"),
			RoleSessionName:       get("AWS_ROLE_SESSION_NAME"),
			STSEndpoint:           get("AWS_ENDPOINT_URL_STS"),
			MetadataEndpoint:      get("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
		},
	}
	if cfg.S3.Region == "" {
		cfg.S3.Region = get("AWS_DEFAULT_REGION")
	}
	var err error
	if cfg.S3.MetadataDisabled, err = parseEnvBool("AWS_EC2_METADATA_DISABLED", get("AWS_EC2_METADATA_DISABLED")); err != nil {
		return Config{}, err
	}
	if v := get("AWS_METADATA_SERVICE_TIMEOUT"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs <= 0 || secs > 1e6 {
			return Config{}, fmt.Errorf("AWS_METADATA_SERVICE_TIMEOUT=%q: want a positive number of seconds: %w", v, ErrInvalid)
		}
		cfg.S3.MetadataTimeout = time.Duration(secs * float64(time.Second))
	}
	if cfg.InsecureTLS, err = parseEnvBool("MLFLOW_TRACKING_INSECURE_TLS", get("MLFLOW_TRACKING_INSECURE_TLS")); err != nil {
		return Config{}, err
	}
	if cfg.S3.IgnoreTLS, err = parseEnvBool("MLFLOW_S3_IGNORE_TLS", get("MLFLOW_S3_IGNORE_TLS")); err != nil {
		return Config{}, err
	}
	if v := get("MLFLOW_HTTP_REQUEST_TIMEOUT"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs <= 0 || secs > 1e6 {
			return Config{}, fmt.Errorf("MLFLOW_HTTP_REQUEST_TIMEOUT=%q: want a positive number of seconds: %w", v, ErrInvalid)
		}
		cfg.Timeout = time.Duration(secs * float64(time.Second))
	}
	return cfg, nil
}

// parseEnvBool accepts what MLflow accepts for boolean settings: true, false,
// 1 or 0 in any case; empty is false.
func parseEnvBool(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, fmt.Errorf("%s=%q: want true, false, 1 or 0: %w", name, v, ErrInvalid)
	}
}

// withDefaults returns cfg with zero fields replaced by their defaults and
// checks the settings that do not need the file system or network.
func (cfg Config) withDefaults() (Config, error) {
	if strings.TrimSpace(cfg.TrackingURI) == "" {
		return cfg, fmt.Errorf("resolver config: TrackingURI (MLFLOW_TRACKING_URI) is required: %w", ErrInvalid)
	}
	if cfg.RegistryURI == "" {
		cfg.RegistryURI = cfg.TrackingURI
	}
	if cfg.Timeout < 0 {
		return cfg, fmt.Errorf("resolver config: Timeout %v is negative: %w", cfg.Timeout, ErrInvalid)
	}
	if cfg.MaxModelBytes < 0 || cfg.DownloadTimeout < 0 || cfg.RateWindow < 0 {
		return cfg, fmt.Errorf("resolver config: MaxModelBytes %d, DownloadTimeout %v and RateWindow %v must not be negative: %w",
			cfg.MaxModelBytes, cfg.DownloadTimeout, cfg.RateWindow, ErrInvalid)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		return cfg, fmt.Errorf("resolver config: Username (MLFLOW_TRACKING_USERNAME) and Password (MLFLOW_TRACKING_PASSWORD) must be set together: %w", ErrInvalid)
	}
	if cfg.InsecureTLS && cfg.ServerCertPath != "" {
		return cfg, fmt.Errorf("resolver config: InsecureTLS (MLFLOW_TRACKING_INSECURE_TLS) cannot be combined with ServerCertPath (MLFLOW_TRACKING_SERVER_CERT_PATH): %w", ErrInvalid)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}
