package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/mlgate/mlgate/bench/fixture"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp keeps a process-wide date ticker, and a stopped worker
		// pool's cleaner sleeps out its idle period before it exits.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

// startCeiling serves the ceiling, with or without its pprof endpoints, on
// a free loopback port until the test ends and returns its base URL.
func startCeiling(t *testing.T, pprof bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(pprof)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func TestCeiling(t *testing.T) {
	base := startCeiling(t, false)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	big := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [` +
		strings.Repeat(`[37, 36.0, 1306.52, 1], `, 255) + `[37, 36.0, 1306.52, 1]]}}`
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   string
		wantProv   bool
	}{
		{"one row", http.MethodPost, "/invocations", fixture.FirstRowRequest, 200, fixture.FirstRowResponse, true},
		{"256 rows get the same answer", http.MethodPost, "/invocations", big, 200, fixture.FirstRowResponse, true},
		{"not JSON is not parsed", http.MethodPost, "/invocations", "not json", 200, fixture.FirstRowResponse, true},
		{"health", http.MethodGet, "/health", "", 200, "\n", false},
		{"ping", http.MethodGet, "/ping", "", 200, "\n", false},
		{"get invocations", http.MethodGet, "/invocations", "", 405, "POST /invocations only", false},
		{"unknown path", http.MethodPost, "/routes/churn/invocations", fixture.FirstRowRequest, 404, "not found", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status: got %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			if string(body) != tt.wantBody {
				t.Errorf("body: got %q; want %q", body, tt.wantBody)
			}
			for _, h := range fixture.Headers() {
				got := resp.Header.Get(h.Name)
				want := ""
				if tt.wantProv {
					want = h.Value
				}
				if got != want {
					t.Errorf("header %s: got %q; want %q", h.Name, got, want)
				}
			}
			if tt.wantProv {
				if got := resp.Header.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type: got %q; want application/json", got)
				}
			}
		})
	}
}

// TestHandleAllocs holds the ceiling to zero allocations per request: it
// is the cheapest answer fasthttp can give.
func TestHandleAllocs(t *testing.T) {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	ctx.Request.SetRequestURI("/invocations")
	ctx.Request.SetBodyString(fixture.FirstRowRequest)
	handle(&ctx)
	if got := ctx.Response.StatusCode(); got != 200 {
		t.Fatalf("status: got %d; want 200", got)
	}
	allocs := testing.AllocsPerRun(100, func() {
		ctx.Response.Reset()
		handle(&ctx)
	})
	if allocs != 0 {
		t.Errorf("allocations per request: got %v; want 0", allocs)
	}
}

// TestPprof checks that --pprof adds Go's profiles under /debug/pprof/ and
// leaves the scoring answer alone, and that without it the path is unknown.
func TestPprof(t *testing.T) {
	tests := []struct {
		name       string
		pprof      bool
		path       string
		wantStatus int
		wantPrefix string
	}{
		{"cmdline with pprof", true, "/debug/pprof/cmdline", 200, ""},
		{"cpu profile with pprof", true, "/debug/pprof/profile?seconds=1", 200, "\x1f\x8b"},
		{"cmdline without pprof", false, "/debug/pprof/cmdline", 404, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := startCeiling(t, tt.pprof)
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			body, status := fetch(t, client, http.MethodGet, base+tt.path, "")
			if status != tt.wantStatus {
				t.Errorf("GET %s: status: got %d; want %d", tt.path, status, tt.wantStatus)
			}
			if !strings.HasPrefix(body, tt.wantPrefix) {
				t.Errorf("GET %s: body starts %q; want %q", tt.path, body[:min(len(body), 16)], tt.wantPrefix)
			}
			body, status = fetch(t, client, http.MethodPost, base+"/invocations", fixture.FirstRowRequest)
			if status != 200 || body != fixture.FirstRowResponse {
				t.Errorf("POST /invocations: got %d %q; want 200 %q", status, body, fixture.FirstRowResponse)
			}
		})
	}
}

func fetch(t *testing.T, client *http.Client, method, url, body string) (string, int) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.StatusCode
}
