package resolver

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/internal/testutil/minioserver"
)

// withoutAWSEnvironment clears every variable the S3 credential chain (and
// minio-go under it) reads, and points HOME at an empty directory, so that
// only what a test configures can give credentials.
func withoutAWSEnvironment(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY", "AWS_SECRET_KEY",
		"AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("HOME", t.TempDir())
}

// countingProxy forwards every request to a server and counts them.
type countingProxy struct {
	url string
	n   atomic.Int64
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	tr := &http.Transport{}
	rp.Transport = tr
	p := &countingProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.n.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.CloseIdleConnections)
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// fakeIMDS is an EC2 instance metadata service: IMDSv2 tokens, one role,
// and that role's credentials; with keys empty it answers 404 to
// everything, as a host without a role does.
type fakeIMDS struct {
	url      string
	requests atomic.Int64
}

func newFakeIMDS(t *testing.T, accessKey, secretKey string) *fakeIMDS {
	t.Helper()
	f := &fakeIMDS{}
	const role = "mlgate-serving"
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /latest/api/token", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("imds-session-token"))
	})
	mux.HandleFunc("GET /latest/meta-data/iam/security-credentials/", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(role + "\n"))
	})
	mux.HandleFunc("GET /latest/meta-data/iam/security-credentials/"+role, func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": accessKey,
			"SecretAccessKey": secretKey, "Token": "", "Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"LastUpdated": time.Now().UTC().Format(time.RFC3339)})
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if accessKey == "" {
			http.NotFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// publicReadPolicy lets anyone list and read a bucket.
const publicReadPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},
"Action":["s3:GetBucketLocation","s3:ListBucket","s3:GetObject"],"Resource":["arn:aws:s3:::public","arn:aws:s3:::public/*"]}]}`

// fetchS3 downloads s3://<location> with cfg into a fresh cache.
func fetchS3(t *testing.T, cfg S3Config, location string) (map[string][]byte, error) {
	t.Helper()
	store, err := newOpener(t, cfg).open(location)
	if err != nil {
		return nil, err
	}
	return fetchAll(t, store)
}

func sameFiles(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d files; want %d", len(got), len(want))
	}
	for name, data := range want {
		if !bytes.Equal(got[name], data) {
			t.Errorf("file %s: got %d bytes; want the %d uploaded", name, len(got[name]), len(data))
		}
	}
}

// TestS3WithMinIO reads versions from a real MinIO server: a version whose
// artifacts live in a bucket, refused credentials, a missing bucket, and
// each source of the credential chain that can be had on this machine.
func TestS3WithMinIO(t *testing.T) {
	withoutAWSEnvironment(t)
	srv := minioserver.Start(t)
	srv.MakeBucket("models")
	v1 := testutil.RecordedModelFiles(t, "churn-gbm", 1)
	v1["data/weights.bin"] = bytes.Repeat([]byte{7}, 3<<20) // a subdirectory, and an object of several MiB
	srv.PutFiles("models", "churn-gbm/1/artifacts", v1)
	srv.Put("models", "churn-gbm/1/artifactsX/not-in-the-model", []byte("x"))
	srv.MakeBucket("public")
	srv.PutFiles("public", "churn-gbm/1", v1)
	if err := srv.Client().SetBucketPolicy(context.Background(), "public", publicReadPolicy); err != nil {
		t.Fatal(err)
	}
	const location = "s3://models/churn-gbm/1/artifacts"
	root := S3Config{EndpointURL: srv.URL(), AccessKeyID: minioserver.RootUser, SecretAccessKey: minioserver.RootPassword, MetadataDisabled: true}

	t.Run("a version in a bucket", func(t *testing.T) {
		tracking := fakemlflow.New(t)
		tracking.SetDownloadURI("churn-gbm", "1", location)
		r := newResolver(t, Config{TrackingURI: tracking.URL(), S3: root})
		res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm@champion"))
		if err != nil {
			t.Fatal(err)
		}
		if res.ArtifactURI != location || res.RunID != championRunID || res.Version != "1" {
			t.Errorf("resolved %s, artifacts %s, run %s; want version 1 in %s from run %s", res, res.ArtifactURI, res.RunID, location, championRunID)
		}
		dir, err := r.Fetch(context.Background(), res)
		if err != nil {
			t.Fatal(err)
		}
		sameFiles(t, readTree(t, dir), v1)
	})

	t.Run("refused credentials", func(t *testing.T) {
		for _, tt := range []struct{ name, key, secret, code string }{
			{"wrong secret", minioserver.RootUser, "not-the-secret", "SignatureDoesNotMatch"},
			{"unknown key", "no-such-key", minioserver.RootPassword, "InvalidAccessKeyId"},
		} {
			cfg := root
			cfg.AccessKeyID, cfg.SecretAccessKey = tt.key, tt.secret
			_, err := fetchS3(t, cfg, location)
			if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), location) {
				t.Errorf("%s: got %v; want ErrUnauthorized naming %s", tt.name, err, location)
			}
			t.Logf("%s: %v", tt.name, err)
		}
	})

	t.Run("missing bucket", func(t *testing.T) {
		_, err := fetchS3(t, root, "s3://no-such-bucket/churn-gbm/1/artifacts")
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no-such-bucket") {
			t.Errorf("got %v; want ErrNotFound naming the bucket", err)
		}
		t.Logf("missing bucket: %v", err)
	})

	t.Run("missing version directory", func(t *testing.T) {
		// An empty listing is refused by the cache, as for every store.
		_, err := fetchS3(t, root, "s3://models/churn-gbm/9/artifacts")
		if err == nil {
			t.Fatal("fetched a directory with no objects")
		}
		t.Logf("missing directory: %v", err)
	})

	credsFile := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(credsFile, []byte("[default]\naws_access_key_id = default-key\naws_secret_access_key = default-secret\n\n"+
		"[profile mlgate]\naws_access_key_id = "+minioserver.RootUser+"\naws_secret_access_key = "+minioserver.RootPassword+"\n"), 0o600)
	proxy := newCountingProxy(t, srv.URL())
	t.Run("shared credentials file", func(t *testing.T) {
		for _, tt := range []struct {
			name, profile string
			want          error
			requests      bool
		}{
			{"named profile", "mlgate", nil, true},
			{"default profile", "", ErrUnauthorized, true}, // its keys are not MinIO's: the default profile was used
			{"profile not in the file", "missing", ErrUnauthorized, false},
		} {
			before := proxy.n.Load()
			_, err := fetchS3(t, S3Config{EndpointURL: proxy.url, SharedCredentialsFile: credsFile, Profile: tt.profile, MetadataDisabled: true}, location)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("%s: got %v; want %v", tt.name, err, tt.want)
			}
			if sent := proxy.n.Load() > before; sent != tt.requests {
				t.Errorf("%s: requests sent to S3: %v; want %v", tt.name, sent, tt.requests)
			}
			t.Logf("%s: %v", tt.name, err)
		}
	})

	t.Run("half of the static keys", func(t *testing.T) {
		before := proxy.n.Load()
		_, err := fetchS3(t, S3Config{EndpointURL: proxy.url, AccessKeyID: minioserver.RootUser, SharedCredentialsFile: credsFile, Profile: "mlgate"}, location)
		if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY") {
			t.Errorf("got %v; want an error naming the missing secret", err)
		}
		if n := proxy.n.Load() - before; n != 0 {
			t.Errorf("S3 got %d requests; want none", n)
		}
	})

	t.Run("environment before the shared file", func(t *testing.T) {
		cfg := root
		cfg.SharedCredentialsFile = credsFile // its default profile's keys would be refused
		if _, err := fetchS3(t, cfg, location); err != nil {
			t.Error(err)
		}
	})

	t.Run("instance role", func(t *testing.T) {
		imds := newFakeIMDS(t, minioserver.RootUser, minioserver.RootPassword)
		files, err := fetchS3(t, S3Config{EndpointURL: srv.URL(), MetadataEndpoint: imds.url, MetadataTimeout: time.Minute}, location)
		if err != nil {
			t.Fatal(err)
		}
		sameFiles(t, files, v1)
		if imds.requests.Load() == 0 {
			t.Error("the instance metadata service got no request")
		}
	})

	t.Run("shared file before the instance role", func(t *testing.T) {
		imds := newFakeIMDS(t, "imds-key", "imds-secret")
		cfg := S3Config{EndpointURL: srv.URL(), SharedCredentialsFile: credsFile, Profile: "mlgate", MetadataEndpoint: imds.url, MetadataTimeout: time.Minute}
		if _, err := fetchS3(t, cfg, location); err != nil {
			t.Error(err)
		}
		if n := imds.requests.Load(); n != 0 {
			t.Errorf("the instance metadata service got %d requests; want none", n)
		}
	})

	t.Run("no credentials anywhere", func(t *testing.T) {
		// The bucket is public, so an unsigned request would succeed:
		// the chain must fail instead of sending one.
		imds := newFakeIMDS(t, "", "")
		before := proxy.n.Load()
		_, err := fetchS3(t, S3Config{EndpointURL: proxy.url, MetadataEndpoint: imds.url, MetadataTimeout: time.Minute}, "s3://public/churn-gbm/1")
		if !errors.Is(err, errNoCredentials) || !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("got %v; want the no-credentials error", err)
		}
		for _, want := range []string{"AWS_ACCESS_KEY_ID", ".aws/credentials", "AWS_WEB_IDENTITY_TOKEN_FILE", imds.url, "404", "MLGATE_S3_ANONYMOUS"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %s", err, want)
			}
		}
		if n := proxy.n.Load() - before; n != 0 {
			t.Errorf("S3 got %d requests without credentials; want none", n)
		}
		if imds.requests.Load() == 0 {
			t.Error("the instance metadata service was not asked")
		}
		t.Logf("no credentials: %v", err)
	})

	t.Run("anonymous when asked", func(t *testing.T) {
		files, err := fetchS3(t, S3Config{EndpointURL: srv.URL(), Anonymous: true}, "s3://public/churn-gbm/1")
		if err != nil {
			t.Fatal(err)
		}
		sameFiles(t, files, v1)
		_, err = fetchS3(t, S3Config{EndpointURL: srv.URL(), Anonymous: true}, location)
		if !errors.Is(err, ErrUnauthorized) {
			t.Errorf("anonymous read of a private bucket: got %v; want ErrUnauthorized", err)
		}
	})
}

// oidcProvider is an OpenID Connect identity provider as far as MinIO's STS
// needs one: a discovery document and the key set that signs its tokens.
type oidcProvider struct {
	url string
	key *rsa.PrivateKey
}

func newOIDCProvider(t *testing.T) *oidcProvider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &oidcProvider{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": p.url, "jwks_uri": p.url + "/jwks",
			"authorization_endpoint": p.url + "/authorize", "token_endpoint": p.url + "/token",
			"response_types_supported": []string{"id_token"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		b64 := base64.RawURLEncoding.EncodeToString
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]string{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// token returns an ID token for audience mlgate, signed with key, whose
// policy claim gives MinIO's readwrite policy (its readonly policy does not
// allow listing).
func (p *oidcProvider) token(t *testing.T, key *rsa.PrivateKey) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{"iss": p.url, "sub": "mlgate-serving", "aud": "mlgate", "azp": "mlgate",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "policy": "readwrite"})
	signed := b64([]byte(`{"alg":"RS256","typ":"JWT","kid":"k1"}`)) + "." + b64(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + b64(sig)
}

// TestS3WebIdentityWithMinIO exchanges a web identity token for temporary
// credentials with MinIO's STS (AssumeRoleWithWebIdentity, as IRSA does
// with AWS STS) and reads a version with them. A token the provider did
// not sign is refused, and the chain does not fall back to the instance
// role.
func TestS3WebIdentityWithMinIO(t *testing.T) {
	withoutAWSEnvironment(t)
	idp := newOIDCProvider(t)
	srv := minioserver.Start(t,
		"MINIO_IDENTITY_OPENID_CONFIG_URL="+idp.url+"/.well-known/openid-configuration",
		"MINIO_IDENTITY_OPENID_CLIENT_ID=mlgate",
		"MINIO_IDENTITY_OPENID_CLAIM_NAME=policy")
	srv.MakeBucket("models")
	v1 := testutil.RecordedModelFiles(t, "churn-gbm", 1)
	srv.PutFiles("models", "churn-gbm/1/artifacts", v1)
	tokenFile := filepath.Join(t.TempDir(), "token")
	imds := newFakeIMDS(t, minioserver.RootUser, minioserver.RootPassword)
	cfg := S3Config{EndpointURL: srv.URL(), WebIdentityTokenFile: tokenFile, STSEndpoint: srv.URL(), RoleSessionName: "mlgate",
		MetadataEndpoint: imds.url, MetadataTimeout: time.Minute}

	os.WriteFile(tokenFile, []byte(idp.token(t, idp.key)), 0o600)
	files, err := fetchS3(t, cfg, "s3://models/churn-gbm/1/artifacts")
	if err != nil {
		t.Fatal(err)
	}
	sameFiles(t, files, v1)

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(tokenFile, []byte(idp.token(t, other)), 0o600)
	_, err = fetchS3(t, cfg, "s3://models/churn-gbm/1/artifacts")
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "web identity") {
		t.Errorf("token signed by another key: got %v; want ErrUnauthorized from web identity", err)
	}
	if n := imds.requests.Load(); n != 0 {
		t.Errorf("the instance metadata service got %d requests; want none (web identity is configured)", n)
	}
	t.Logf("forged token: %v", err)
}
