package resolver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

const testToken = "tok-secret"

// authCount returns how many requests s received, and how many of them
// carried an Authorization header.
func authCount(s *fakemlflow.Server) (withAuth, all int) {
	for _, r := range s.Requests() {
		all++
		if r.Header.Get("Authorization") != "" {
			withAuth++
		}
	}
	return withAuth, all
}

func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestCredentialsStayWithTrackingHost sends the resolver, which holds a
// tracking token, to a second server ("other", on the same address but
// another port) in each way a registry can: an http(s) location, an
// mlflow-artifacts://host location, and redirects from the tracking
// server's artifact API (net/http alone forwards Authorization on a
// redirect to the same host on another port). Without an allow-list entry
// the other server is refused and receives nothing; with one it serves the
// artifacts but never sees the token, while every request to the tracking
// server carries it. (Before: the other server got the token on every
// request in all cases but the redirect to another host name.)
func TestCredentialsStayWithTrackingHost(t *testing.T) {
	tests := []struct {
		name string
		// point makes tracking send the resolver to other and returns
		// the allow-list entry that permits it.
		point func(t *testing.T, tracking, other *fakemlflow.Server) string
		// refusedAt is "resolve" when the location itself is refused,
		// "fetch" when only following a redirect is.
		refusedAt string
	}{
		{"http location on another port", func(t *testing.T, tracking, other *fakemlflow.Server) string {
			tracking.SetDownloadURI("churn-gbm", "1", other.URL()+artifactsAPIPath+"/"+tracking.ArtifactDir("churn-gbm", "1"))
			return hostPort(t, other.URL())
		}, "resolve"},
		{"mlflow-artifacts location naming another host", func(t *testing.T, tracking, other *fakemlflow.Server) string {
			tracking.SetDownloadURI("churn-gbm", "1", "mlflow-artifacts://"+hostPort(t, other.URL())+"/"+tracking.ArtifactDir("churn-gbm", "1"))
			return "http://" + hostPort(t, other.URL())
		}, "resolve"},
		{"redirect to the same host on another port", func(t *testing.T, tracking, other *fakemlflow.Server) string {
			tracking.RedirectArtifacts(other.URL())
			return hostPort(t, other.URL())
		}, "fetch"},
		{"redirect to another host name", func(t *testing.T, tracking, other *fakemlflow.Server) string {
			tracking.RedirectArtifacts(strings.Replace(other.URL(), "127.0.0.1", "localhost", 1))
			return "localhost"
		}, "fetch"},
	}
	for _, tt := range tests {
		for _, allowed := range []bool{false, true} {
			name := tt.name + "/refused"
			if allowed {
				name = tt.name + "/allowed"
			}
			t.Run(name, func(t *testing.T) {
				tracking, other := fakemlflow.New(t), fakemlflow.New(t)
				entry := tt.point(t, tracking, other)
				cfg := Config{TrackingURI: tracking.URL(), Token: testToken}
				if allowed {
					cfg.AllowedHosts = []string{entry}
				}
				r := newResolver(t, cfg)
				res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/1"))
				if err == nil {
					_, err = r.Fetch(context.Background(), res)
				} else if allowed || tt.refusedAt != "resolve" {
					t.Fatalf("Resolve: %v", err)
				}
				withAuth, all := authCount(other)
				if !allowed {
					checkIs(t, err, ErrInvalid)
					if !strings.Contains(err.Error(), "allowed_hosts") {
						t.Errorf("error %q does not say how to allow the host", err)
					}
					if all != 0 {
						t.Errorf("refused host got %d requests (%d with Authorization); want none", all, withAuth)
					}
					t.Logf("refused: %v", err)
					return
				}
				if err != nil {
					t.Fatalf("fetch from an allowed host: %v", err)
				}
				if all == 0 || withAuth != 0 {
					t.Errorf("allowed host got %d requests, %d with Authorization; want some, none with it", all, withAuth)
				}
				if a, n := authCount(tracking); a != n {
					t.Errorf("tracking server got %d requests, %d with Authorization; want all with it", n, a)
				}
				t.Logf("allowed host: %d requests, %d with Authorization", all, withAuth)
			})
		}
	}
}

func TestHostRules(t *testing.T) {
	tests := []struct {
		rule    string
		match   []string
		noMatch []string
	}{
		{"artifacts.example", []string{"http://artifacts.example", "https://ARTIFACTS.example:8443/x"},
			[]string{"http://other.example", "http://sub.artifacts.example", "ftp://artifacts.example"}},
		{"artifacts.example:8443", []string{"https://artifacts.example:8443", "http://artifacts.example:8443"},
			[]string{"https://artifacts.example", "https://artifacts.example:8444"}},
		{"https://artifacts.example", []string{"https://artifacts.example:443/x", "https://artifacts.example:8443"},
			[]string{"http://artifacts.example", "https://other.example"}},
		{"http://[::1]:5000", []string{"http://[::1]:5000/x"}, []string{"http://[::1]:5001", "http://127.0.0.1:5000"}},
	}
	for _, tt := range tests {
		r, err := parseHostRule(tt.rule)
		if err != nil {
			t.Fatalf("parseHostRule(%q): %v", tt.rule, err)
		}
		for _, m := range tt.match {
			u, _ := url.Parse(m)
			if !r.match(originOf(u)) {
				t.Errorf("%q does not match %s; want a match", tt.rule, m)
			}
		}
		for _, m := range tt.noMatch {
			u, _ := url.Parse(m)
			if r.match(originOf(u)) {
				t.Errorf("%q matches %s; want no match", tt.rule, m)
			}
		}
	}
	for _, bad := range []string{"", "ftp://x", "http://x/path", "http://u:p@x", "x?q=1", "http://"} {
		if _, err := parseHostRule(bad); err == nil {
			t.Errorf("parseHostRule(%q): got no error", bad)
		}
	}
	// The tracking origin is exact: another port or scheme of the same
	// host is not trusted.
	p, err := newHostPolicy([]string{"http://mlflow:5000/prefix", "sqlite:///x.db"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]bool{
		"http://mlflow:5000/api": true, "http://MLFLOW:5000": true, "http://mlflow:5001": false,
		"https://mlflow:5000": false, "http://mlflow": false, "http://sub.mlflow:5000": false,
	} {
		u, _ := url.Parse(raw)
		if got := p.isTrusted(u); got != want {
			t.Errorf("isTrusted(%s) = %v; want %v", raw, got, want)
		}
	}
}

// clientCertificate returns a self-signed client certificate as DER, its
// key, and a pool trusting it.
func clientCertificate(t *testing.T) ([]byte, *ecdsa.PrivateKey, *x509.CertPool) {
	t.Helper()
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
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return der, key, pool
}

// tlsWitness serves s over TLS, asking for (but not requiring) a client
// certificate, and counts the requests that presented one or carried an
// Authorization header.
type tlsWitness struct {
	url              string
	mu               sync.Mutex
	all, certs, auth int
}

func newTLSWitness(t *testing.T, s *fakemlflow.Server) *tlsWitness {
	t.Helper()
	target, _ := url.Parse(s.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	tr := &http.Transport{}
	proxy.Transport = tr
	w := &tlsWitness{}
	front := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.all++
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			w.certs++
		}
		if r.Header.Get("Authorization") != "" {
			w.auth++
		}
		w.mu.Unlock()
		proxy.ServeHTTP(rw, r)
	}))
	front.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	front.StartTLS()
	t.Cleanup(tr.CloseIdleConnections)
	t.Cleanup(front.Close)
	w.url = front.URL
	return w
}

// TestClientCertificateStaysWithTrackingHost: with mutual TLS to the
// tracking server and an allowed artifact host over TLS that asks for a
// client certificate, the certificate and the token go to the tracking
// server only.
func TestClientCertificateStaysWithTrackingHost(t *testing.T) {
	s := fakemlflow.New(t)
	der, key, pool := clientCertificate(t)
	mtlsURL, caFile := tlsFront(t, s, pool)
	other := newTLSWitness(t, s) // httptest servers share one certificate, so caFile verifies it too
	s.SetDownloadURI("churn-gbm", "1", other.url+artifactsAPIPath+"/"+s.ArtifactDir("churn-gbm", "1"))
	r := newResolver(t, Config{TrackingURI: mtlsURL, ServerCertPath: caFile, ClientCertPath: writeCert(t, der, key),
		Token: testToken, AllowedHosts: []string{hostPort(t, other.url)}})
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fetch(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	other.mu.Lock()
	defer other.mu.Unlock()
	if other.all == 0 || other.certs != 0 || other.auth != 0 {
		t.Errorf("allowed host got %d requests, %d with a client certificate, %d with Authorization; want some, none with either",
			other.all, other.certs, other.auth)
	}
	// s serves both fronts: the requests that did not come through the
	// other host came from the tracking front, and all carry the token.
	if a, n := authCount(s); a != n-other.all || a == 0 {
		t.Errorf("tracking server got %d requests, %d with Authorization; want all %d through the tracking front with it", n, a, n-other.all)
	}
}

// TestS3CredentialsOnlyToEndpoint: S3 requests are signed for the
// configured endpoint and never carry the tracking token, and a redirect
// from the endpoint is not followed anywhere.
func TestS3CredentialsOnlyToEndpoint(t *testing.T) {
	var mu sync.Mutex
	elsewhere := 0
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		elsewhere++
		mu.Unlock()
	}))
	t.Cleanup(sink.Close)
	for _, redirect := range []bool{false, true} {
		fake := &fakeS3{objects: map[string][]byte{
			"models/1/m-1/artifacts/MLmodel":    []byte("flavors: {}\n"),
			"models/1/m-1/artifacts/model.onnx": []byte("onnx bytes"),
		}}
		if redirect {
			fake.redirect = sink.URL
		}
		srv := httptest.NewServer(fake)
		t.Cleanup(srv.Close)
		tracking := fakemlflow.New(t)
		tracking.SetDownloadURI("churn-gbm", "1", "s3://models/1/m-1/artifacts")
		r := newResolver(t, Config{TrackingURI: tracking.URL(), Token: testToken,
			S3: S3Config{EndpointURL: srv.URL, AccessKeyID: "minio", SecretAccessKey: "minio123", Region: "us-east-1"}})
		res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/1"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Fetch(context.Background(), res)
		if redirect != (err != nil) {
			t.Errorf("redirect %v: Fetch error %v", redirect, err)
		}
		fake.mu.Lock()
		for _, a := range fake.auth {
			if !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=minio/") {
				t.Errorf("S3 request with Authorization %q; want a SigV4 signature for minio", a)
			}
		}
		if len(fake.auth) == 0 {
			t.Error("S3 endpoint got no request")
		}
		fake.mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	if elsewhere != 0 {
		t.Errorf("the redirect target got %d requests; want none", elsewhere)
	}
}
