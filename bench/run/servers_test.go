package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlgate/mlgate/bench/fixture"
)

func TestWaitReady(t *testing.T) {
	tests := []struct {
		name    string
		handler func(calls int64) http.HandlerFunc
		wantErr string
	}{
		{
			name: "ready answers 200",
			handler: func(int64) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path != "/ready" {
						http.NotFound(w, r)
					}
				}
			},
		},
		{
			name: "no /ready: /health is polled",
			handler: func(int64) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path != "/health" {
						http.NotFound(w, r)
					}
				}
			},
		},
		{
			name: "503 until loaded",
			handler: func(calls int64) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path != "/ready" || calls < 3 {
						w.WriteHeader(http.StatusServiceUnavailable)
					}
				}
			},
		},
		{
			name: "never ready",
			handler: func(int64) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }
			},
			wantErr: "not ready after 300ms (last: GET /ready: 503)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tt.handler(calls.Add(1))(w, r)
			}))
			defer srv.Close()
			err := waitReady(context.Background(), srv.URL, nil, 300*time.Millisecond)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("got %v; want ready", err)
			}
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("got %v; want %q", err, tt.wantErr)
			}
		})
	}
}

func TestWaitReadyExited(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	close(exited)
	err = waitReady(context.Background(), "http://127.0.0.1:"+strconv.Itoa(port), exited, time.Minute)
	if !errors.Is(err, errExited) {
		t.Errorf("got %v; want %v", err, errExited)
	}
}

func TestCheckAnswer(t *testing.T) {
	good := func(w http.ResponseWriter, r *http.Request) {
		for _, h := range fixture.Headers() {
			w.Header().Set(h.Name, h.Value)
		}
		w.Write([]byte(fixture.FirstRowResponse))
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{"right answer", good, ""},
		{"wrong probability", func(w http.ResponseWriter, r *http.Request) {
			for _, h := range fixture.Headers() {
				w.Header().Set(h.Name, h.Value)
			}
			w.Write([]byte(`{"predictions": [{"probability": 0.5}]}`))
		}, "want probability 0.23261308670043945"},
		{"wrong version", func(w http.ResponseWriter, r *http.Request) {
			for _, h := range fixture.Headers() {
				w.Header().Set(h.Name, h.Value)
			}
			w.Header().Set("X-Model-Version", "2")
			w.Write([]byte(fixture.FirstRowResponse))
		}, `header X-Model-Version: got "2"; want "1"`},
		{"error status", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error_code": "BAD_REQUEST"}`, http.StatusBadRequest)
		}, "status 400"},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }, "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			err := checkAnswer(context.Background(), srv.URL)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("got %v; want no error", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("got %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDisplayCommand(t *testing.T) {
	argv := []string{"/repo/bin/mlgate", "serve", "--config", "/repo/examples/mlgate.yaml", "--listen", addrPlaceholder, "--log-level", "warn"}
	if got, want := displayCommand(argv, "/repo"), "bin/mlgate serve --config examples/mlgate.yaml --listen ADDR --log-level warn"; got != want {
		t.Errorf("got %q; want %q", got, want)
	}
	if got, want := displayCommand([]string{"/elsewhere/bin/naive"}, "/repo"), "/elsewhere/bin/naive"; got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}
