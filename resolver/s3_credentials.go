package resolver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// DefaultMetadataTimeout bounds one attempt at the instance role's
// credentials, as the AWS CLI's metadata_service_timeout does.
const DefaultMetadataTimeout = time.Second

// errNoCredentials marks the failure to find S3 credentials in any source.
var errNoCredentials = errors.New("no S3 credentials found")

// credentialSource is one entry of the S3 credential chain.
type credentialSource struct {
	// name says what the source is and which settings configure it.
	name string
	// configured returns "" when the source applies, or why it does not
	// (for the message when no source gives credentials).
	configured func() string
	provider   credentials.Provider
	// final means an error of a configured source ends the search: the
	// settings asked for it, and falling back would pick another identity.
	final   bool
	timeout time.Duration
}

// s3Chain finds S3 credentials the way AWS clients do, in order: static
// keys from the environment, the shared credentials file and profile, web
// identity (STS AssumeRoleWithWebIdentity, as with EKS IRSA), and the
// container or instance role. Unlike minio-go's Chain it never falls back
// to unsigned requests: with no credentials anywhere, it fails with an
// error that names every source and why it gave nothing. It is used by
// minio-go's Credentials, which serialises its calls.
type s3Chain struct {
	sources []credentialSource
	curr    credentials.Provider
}

var _ credentials.Provider = (*s3Chain)(nil)

// newS3Chain builds the chain for cfg. timeout bounds each source's
// network calls (STS), cfg.MetadataTimeout the instance role's.
func newS3Chain(cfg S3Config, timeout time.Duration) *s3Chain {
	credsFile, explicitFile := cfg.SharedCredentialsFile, cfg.SharedCredentialsFile != ""
	if !explicitFile {
		if home, err := os.UserHomeDir(); err == nil {
			credsFile = filepath.Join(home, ".aws", "credentials")
		}
	}
	profile, explicitProfile := cfg.Profile, cfg.Profile != ""
	if !explicitProfile {
		profile = "default"
	}
	metadataTimeout := cfg.MetadataTimeout
	if metadataTimeout <= 0 {
		metadataTimeout = DefaultMetadataTimeout
	}
	metadata := cfg.MetadataEndpoint
	if metadata == "" {
		metadata = credentials.DefaultIAMRoleEndpoint
	}
	return &s3Chain{sources: []credentialSource{
		{
			name: "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
			configured: func() string {
				if cfg.AccessKeyID == "" && cfg.SecretAccessKey == "" {
					return "not set"
				}
				return ""
			},
			provider: &staticKeys{cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken},
			final:    true,
			timeout:  timeout,
		},
		{
			name: fmt.Sprintf("shared credentials file %s, profile %s (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE)", credsFile, profile),
			configured: func() string {
				if credsFile == "" {
					return "no home directory"
				}
				data, err := os.ReadFile(credsFile)
				switch {
				case errors.Is(err, fs.ErrNotExist) && !explicitFile:
					return "no such file"
				case err != nil:
					return "" // the provider reports it
				case !hasProfile(data, profile) && !explicitProfile:
					return "no profile " + profile
				}
				return ""
			},
			provider: &credentials.FileAWSCredentials{Filename: credsFile, Profile: profile},
			final:    true,
			timeout:  timeout,
		},
		{
			name: "web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, STS at " + stsEndpoint(cfg) + ")",
			configured: func() string {
				if cfg.WebIdentityTokenFile == "" {
					return "not set"
				}
				return ""
			},
			provider: &credentials.IAM{Endpoint: stsEndpoint(cfg), Region: cfg.Region, EKSIdentity: struct {
				TokenFile       string
				RoleARN         string
				RoleSessionName string
			}{cfg.WebIdentityTokenFile, cfg.RoleARN, cfg.RoleSessionName}},
			final:   true,
			timeout: timeout,
		},
		{
			name: "container or instance role (instance metadata at " + metadata + ", AWS_EC2_METADATA_DISABLED)",
			configured: func() string {
				if cfg.MetadataDisabled {
					return "disabled"
				}
				return ""
			},
			provider: &credentials.IAM{Endpoint: cfg.MetadataEndpoint},
			timeout:  metadataTimeout,
		},
	}}
}

// stsEndpoint is where web identity tokens are exchanged: the configured
// endpoint, else AWS STS in the bucket's region.
func stsEndpoint(cfg S3Config) string {
	switch {
	case cfg.STSEndpoint != "":
		return cfg.STSEndpoint
	case strings.HasPrefix(cfg.Region, "cn-"):
		return "https://sts." + cfg.Region + ".amazonaws.com.cn"
	case cfg.Region != "":
		return "https://sts." + cfg.Region + ".amazonaws.com"
	}
	return credentials.DefaultSTSRoleEndpoint
}

// hasProfile reports whether an INI credentials file has a [profile] or
// [profile <profile>] section.
func hasProfile(data []byte, profile string) bool {
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(line, "["); ok {
			if name, ok = strings.CutSuffix(name, "]"); ok {
				name = strings.TrimSpace(name)
				if name == profile || name == "profile "+profile {
					return true
				}
			}
		}
	}
	return false
}

// RetrieveWithCredContext returns the credentials of the first source
// that has some.
func (c *s3Chain) RetrieveWithCredContext(cc *credentials.CredContext) (credentials.Value, error) {
	parent := context.Background()
	if cc != nil && cc.Context != nil {
		parent = cc.Context
	}
	var tried []string
	for _, s := range c.sources {
		if why := s.configured(); why != "" {
			tried = append(tried, s.name+": "+why)
			continue
		}
		ctx, cancel := context.WithTimeout(parent, s.timeout)
		sub := &credentials.CredContext{Context: ctx}
		if cc != nil {
			sub.Client, sub.Endpoint = cc.Client, cc.Endpoint
		}
		v, err := s.provider.RetrieveWithCredContext(sub)
		cancel()
		if err == nil && (v.AccessKeyID == "" || v.SecretAccessKey == "") {
			err = errors.New("gave no access key and secret")
		}
		if err == nil {
			c.curr = s.provider
			return v, nil
		}
		if s.final {
			c.curr = nil
			return credentials.Value{}, fmt.Errorf("S3 credentials from %s: %w", s.name, withKind(ErrUnauthorized, err))
		}
		tried = append(tried, s.name+": "+err.Error())
	}
	c.curr = nil
	return credentials.Value{}, fmt.Errorf("%w; tried %s; set one of them, or s3.anonymous (MLGATE_S3_ANONYMOUS=true) to read a public bucket with unsigned requests: %w",
		errNoCredentials, strings.Join(tried, "; "), ErrUnauthorized)
}

// Retrieve is RetrieveWithCredContext without a context.
func (c *s3Chain) Retrieve() (credentials.Value, error) { return c.RetrieveWithCredContext(nil) }

// IsExpired reports whether the source that gave the credentials says they
// expired; with none, the next request searches again.
func (c *s3Chain) IsExpired() bool { return c.curr == nil || c.curr.IsExpired() }

// staticKeys are keys given in the configuration; both halves must be set.
type staticKeys struct{ id, secret, token string }

func (k *staticKeys) RetrieveWithCredContext(*credentials.CredContext) (credentials.Value, error) {
	switch {
	case k.id == "":
		return credentials.Value{}, errors.New("AWS_SECRET_ACCESS_KEY is set without AWS_ACCESS_KEY_ID")
	case k.secret == "":
		return credentials.Value{}, errors.New("AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY")
	}
	return credentials.Value{AccessKeyID: k.id, SecretAccessKey: k.secret, SessionToken: k.token, SignerType: credentials.SignatureV4}, nil
}

func (k *staticKeys) Retrieve() (credentials.Value, error) { return k.RetrieveWithCredContext(nil) }
func (k *staticKeys) IsExpired() bool                      { return false }
