package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
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

	report, err := runHealthcheck(srv.URL+"/ready", 50*time.Millisecond)
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
	_, err := runHealthcheck(u, healthcheckTimeout)
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
