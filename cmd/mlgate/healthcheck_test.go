package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/internal/testutil"
)

func TestCmdHealthcheck(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /draining", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not ready:\n  draining", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /empty", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ready", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	refused := refusedURL(t)

	tests := []struct {
		name       string
		args       []string
		want       int
		wantStdout string // substring; "" means stdout must be empty
		wantStderr string // substring; "" means stderr must be empty
	}{
		{"200 is healthy", []string{"--url", srv.URL + "/ready"}, 0, "GET " + srv.URL + "/ready: 200 OK", ""},
		{"503 quotes the body", []string{"--url", srv.URL + "/draining"}, 1, "", "GET " + srv.URL + "/draining: 503 Service Unavailable: not ready: draining"},
		{"503 without a body", []string{"--url", srv.URL + "/empty"}, 1, "", "/empty: 503 Service Unavailable\n"},
		{"204 is not 200", []string{"--url", srv.URL + "/nocontent"}, 1, "", "204 No Content"},
		{"redirect is not followed", []string{"--url", srv.URL + "/moved"}, 1, "", "302 Found"},
		{"refused port", []string{"--url", refused}, 1, "", "GET " + refused + ": dial tcp"},
		{"single-dash flag", []string{"-url", srv.URL + "/ready"}, 0, "200 OK", ""},
		{"not http", []string{"--url", "ftp://127.0.0.1/ready"}, 1, "", `url "ftp://127.0.0.1/ready": want http://host:port/path`},
		{"no host", []string{"--url", "http:///ready"}, 1, "", "want http://host:port/path"},
		{"unparsable url", []string{"--url", "http://[::1"}, 1, "", `url "http://[::1"`},
		{"unknown flag", []string{"--port", "8080"}, 1, "", "flag provided but not defined: -port"},
		{"extra argument", []string{"--url", srv.URL + "/ready", "now"}, 1, "", `unexpected argument "now"`},
		{"help", []string{"-h"}, 0, "", "Usage: mlgate healthcheck"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := cmdHealthcheck(tt.args, &stdout, &stderr)
			if got != tt.want {
				t.Errorf("cmdHealthcheck(%q) = %d; want %d (stdout %q, stderr %q)", tt.args, got, tt.want, stdout.String(), stderr.String())
			}
			checkOutput(t, "stdout", stdout.String(), tt.wantStdout)
			checkOutput(t, "stderr", stderr.String(), tt.wantStderr)
		})
	}
}

// TestRunHealthcheckTimeout checks that a server that never answers is
// unhealthy once the timeout passes, with a timeout error, rather than
// hanging the check.
func TestRunHealthcheckTimeout(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()

	report, err := runHealthcheck(srv.URL+"/ready", 50*time.Millisecond, false)
	if err == nil {
		t.Fatalf("runHealthcheck(silent server) = %q, nil; want a timeout error", report)
	}
	var nerr net.Error
	if !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Errorf("runHealthcheck(silent server) error = %v; want a net.Error with Timeout() true", err)
	}
	if want := "GET " + srv.URL + "/ready: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("runHealthcheck(silent server) error = %q; want prefix %q", err, want)
	}
}

// TestRunHealthcheckRedactsPassword checks that credentials in the URL never
// reach the report.
func TestRunHealthcheckRedactsPassword(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != "s3cret" {
			t.Errorf("request basic auth password = %q, %v; want %q, true", pass, ok, "s3cret")
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	u := strings.Replace(srv.URL, "http://", "http://probe:s3cret@", 1) + "/ready"
	_, err := runHealthcheck(u, healthcheckTimeout, false)
	if err == nil {
		t.Fatalf("runHealthcheck(503) error = nil; want an error")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("runHealthcheck error = %q; want the password redacted", err)
	}
}

// refusedURL returns a loopback URL whose port was just free, so that a
// connection to it is refused.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return "http://" + addr + "/ready"
}

func checkOutput(t *testing.T, name, got, want string) {
	t.Helper()
	if want == "" {
		if got != "" {
			t.Errorf("%s = %q; want it empty", name, got)
		}
		return
	}
	if !strings.Contains(got, want) {
		t.Errorf("%s = %q; want it to contain %q", name, got, want)
	}
}

// TestHealthcheckURL derives the probe's URL from serve's configuration.
func TestHealthcheckURL(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"default", func(*Config) {}, "http://127.0.0.1:8080/ready"},
		{"all interfaces", func(c *Config) { c.Listen = "0.0.0.0:9000" }, "http://127.0.0.1:9000/ready"},
		{"empty host", func(c *Config) { c.Listen = ":9000" }, "http://127.0.0.1:9000/ready"},
		{"ipv6 any", func(c *Config) { c.Listen = "[::]:9000" }, "http://[::1]:9000/ready"},
		{"named host", func(c *Config) { c.Listen = "10.1.2.3:9000" }, "http://10.1.2.3:9000/ready"},
		{"tls", func(c *Config) { c.Listen, c.TLSCertFile = "0.0.0.0:8443", "tls.crt" }, "https://127.0.0.1:8443/ready"},
		{"mutual tls probes the admin listener", func(c *Config) {
			c.Listen, c.AdminListen, c.TLSCertFile, c.TLSClientCAFile = "0.0.0.0:8443", "127.0.0.1:8444", "tls.crt", "ca.crt"
		}, "https://127.0.0.1:8444/ready"},
	}
	for _, tt := range tests {
		cfg := defaultConfig()
		tt.cfg(&cfg)
		if got, err := healthcheckURL(cfg); err != nil || got != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	cfg := defaultConfig()
	cfg.Listen = "127.0.0.1:0"
	if _, err := healthcheckURL(cfg); err == nil || !strings.Contains(err.Error(), "--url") {
		t.Errorf("listen on port 0: %v; want an error asking for --url", err)
	}
}

// TestHealthcheckFollowsConfig runs mlgate with TLS, then with mutual TLS,
// on ports from its config file, and `mlgate healthcheck --config` with
// that file: it finds the listener, speaks https, and under mutual TLS
// probes the admin listener, which asks for no client certificate.
func TestHealthcheckFollowsConfig(t *testing.T) {
	fake := fakemlflow.New(t)
	dir := t.TempDir()
	ca := testutil.NewCA(t, "mlgate test CA")
	cert, key := ca.Issue(t, 2, false)
	for name, data := range map[string][]byte{"tls.crt": cert, "tls.key": key, "clients.crt": ca.PEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, mutual := range []bool{false, true} {
		listen, admin := freeAddr(t), freeAddr(t)
		conf := fmt.Sprintf("listen: %s\nadmin_listen: %s\ntls_cert_file: tls.crt\ntls_key_file: tls.key\n", listen, admin)
		if mutual {
			conf += "tls_client_ca_file: clients.crt\n"
		}
		file := filepath.Join(dir, fmt.Sprintf("mlgate-%v.yaml", mutual))
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{"--listen", listen, "--admin-listen", admin, "--drain-delay", "0s",
			"--tls-cert-file", filepath.Join(dir, "tls.crt"), "--tls-key-file", filepath.Join(dir, "tls.key")}
		if mutual {
			args = append(args, "--tls-client-ca-file", filepath.Join(dir, "clients.crt"))
		}
		p := startProcess(t, fake.URL(), args...)
		var stdout, stderr bytes.Buffer
		waitFor(t, "mlgate healthcheck to pass", func() bool {
			stdout.Reset()
			stderr.Reset()
			return cmdHealthcheck([]string{"--config", file}, &stdout, &stderr) == 0
		})
		want := "GET https://" + listen + "/ready: 200 OK"
		if mutual {
			want = "GET https://" + admin + "/ready: 200 OK"
		}
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("mutual TLS %v: healthcheck said %q; want %q", mutual, stdout.String(), want)
		}
		stopProcess(t, p)
	}
}
