package resolver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"MLFLOW_TRACKING_URI":               "http://mlflow:5000",
		"MLFLOW_REGISTRY_URI":               "sqlite:////srv/mlflow.db",
		"MLFLOW_TRACKING_TOKEN":             "tok",
		"MLFLOW_TRACKING_USERNAME":          "alice",
		"MLFLOW_TRACKING_PASSWORD":          " pass ",
		"MLFLOW_TRACKING_INSECURE_TLS":      "TRUE",
		"MLFLOW_TRACKING_CLIENT_CERT_PATH":  "/etc/mlgate/client.pem",
		"MLFLOW_HTTP_REQUEST_TIMEOUT":       "2.5",
		"MLFLOW_S3_ENDPOINT_URL":            "http://minio:9000",
		"MLFLOW_S3_IGNORE_TLS":              "1",
		"AWS_ACCESS_KEY_ID":                 "ak",
		"AWS_SECRET_ACCESS_KEY":             "sk",
		"AWS_DEFAULT_REGION":                "eu-west-1",
		"AWS_SHARED_CREDENTIALS_FILE":       "/etc/mlgate/aws-credentials",
		"AWS_PROFILE":                       "serving",
		"AWS_WEB_IDENTITY_TOKEN_FILE":       "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
		"AWS_ROLE_ARN":                      "arn:aws:iam::123456789012:role/mlgate",
		"AWS_ROLE_SESSION_NAME":             "mlgate-1",
		"AWS_ENDPOINT_URL_STS":              "https://sts.eu-west-1.amazonaws.com",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://[fd00:ec2::254]",
		"AWS_EC2_METADATA_DISABLED":         "true",
		"AWS_METADATA_SERVICE_TIMEOUT":      "2",
	}
	got, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		TrackingURI: "http://mlflow:5000", RegistryURI: "sqlite:////srv/mlflow.db", Token: "tok", Username: "alice",
		Password: " pass ", InsecureTLS: true, ClientCertPath: "/etc/mlgate/client.pem", Timeout: 2500 * time.Millisecond,
		S3: S3Config{EndpointURL: "http://minio:9000", IgnoreTLS: true, AccessKeyID: "ak", SecretAccessKey: "sk", Region: "eu-west-1",
			SharedCredentialsFile: "/etc/mlgate/aws-credentials", Profile: "serving",
			WebIdentityTokenFile: "/var/run/secrets/eks.amazonaws.com/serviceaccount/token", RoleARN: "arn:aws:iam::123456789012:role/mlgate",
			RoleSessionName: "mlgate-1", STSEndpoint: "https://sts.eu-west-1.amazonaws.com",
			MetadataEndpoint: "http://[fd00:ec2::254]", MetadataDisabled: true, MetadataTimeout: 2 * time.Second},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	for k, v := range map[string]string{
		"MLFLOW_TRACKING_INSECURE_TLS": "yes",
		"MLFLOW_S3_IGNORE_TLS":         "on",
		"MLFLOW_HTTP_REQUEST_TIMEOUT":  "30s",
		"AWS_EC2_METADATA_DISABLED":    "yes",
		"AWS_METADATA_SERVICE_TIMEOUT": "-1",
	} {
		_, err := ConfigFromEnv(func(key string) string {
			if key == k {
				return v
			}
			return ""
		})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: got %v; want ErrInvalid naming the variable", k, v, err)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "not-a-cert.pem")
	if err := os.WriteFile(bad, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no tracking URI", Config{}, "TrackingURI (MLFLOW_TRACKING_URI) is required"},
		{"bad scheme", Config{TrackingURI: "ftp://x"}, "TrackingURI"},
		{"bad registry", Config{TrackingURI: "http://x", RegistryURI: "mysql://db"}, "RegistryURI"},
		{"negative timeout", Config{TrackingURI: "http://x", Timeout: -time.Second}, "Timeout"},
		{"username only", Config{TrackingURI: "http://x", Username: "a"}, "must be set together"},
		{"insecure and CA", Config{TrackingURI: "http://x", InsecureTLS: true, ServerCertPath: bad}, "cannot be combined"},
		{"bad CA", Config{TrackingURI: "http://x", ServerCertPath: bad}, "holds no PEM certificate"},
		{"missing CA", Config{TrackingURI: "http://x", ServerCertPath: bad + ".missing"}, "MLFLOW_TRACKING_SERVER_CERT_PATH"},
		{"bad client cert", Config{TrackingURI: "http://x", ClientCertPath: bad}, "ClientCertPath"},
		{"user info in URI", Config{TrackingURI: "http://a:b@x"}, "user info"},
		{"bad artifacts root", Config{TrackingURI: "sqlite:///" + bad, ArtifactsRoot: "file://host/x"}, "ArtifactsRoot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.CacheDir = t.TempDir()
			r, err := New(cfg)
			if err == nil {
				r.Close()
				t.Fatalf("got no error; want one containing %q", tt.want)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v; want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

// writeCert writes a self-signed certificate, and optionally its key, as
// PEM into one file.
func writeCert(t *testing.T, der []byte, key *ecdsa.PrivateKey) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cert.pem")
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if key != nil {
		kb, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})...)
	}
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsFront serves the fake MLflow over TLS, optionally requiring a client
// certificate, and returns its URL and the CA file that verifies it.
func tlsFront(t *testing.T, s *fakemlflow.Server, clientCAs *x509.CertPool) (string, string) {
	t.Helper()
	target, _ := url.Parse(s.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	tr := &http.Transport{}
	proxy.Transport = tr
	front := httptest.NewUnstartedServer(proxy)
	if clientCAs != nil {
		front.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	}
	front.StartTLS()
	t.Cleanup(tr.CloseIdleConnections)
	t.Cleanup(front.Close)
	return front.URL, writeCert(t, front.Certificate().Raw, nil)
}

func TestTLSSettings(t *testing.T) {
	s := fakemlflow.New(t)
	u := mustURI(t, "models:/churn-gbm@champion")
	frontURL, caFile := tlsFront(t, s, nil)

	_, err := newResolver(t, Config{TrackingURI: frontURL}).Check(context.Background(), u)
	checkIs(t, err, ErrUnavailable)
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted server: error %q does not mention the certificate", err)
	}
	if _, err := newResolver(t, Config{TrackingURI: frontURL, ServerCertPath: caFile}).Check(context.Background(), u); err != nil {
		t.Errorf("ServerCertPath: %v", err)
	}
	if _, err := newResolver(t, Config{TrackingURI: frontURL, InsecureTLS: true}).Check(context.Background(), u); err != nil {
		t.Errorf("InsecureTLS: %v", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mlgate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(clientCert)
	mtlsURL, mtlsCA := tlsFront(t, s, pool)
	if _, err := newResolver(t, Config{TrackingURI: mtlsURL, ServerCertPath: mtlsCA}).Check(context.Background(), u); !errors.Is(err, ErrUnavailable) {
		t.Errorf("mTLS without a client certificate: got %v; want a failure", err)
	}
	clientPEM := writeCert(t, der, key)
	if _, err := newResolver(t, Config{TrackingURI: mtlsURL, ServerCertPath: mtlsCA, ClientCertPath: clientPEM}).Check(context.Background(), u); err != nil {
		t.Errorf("mTLS with ClientCertPath: %v", err)
	}
}
