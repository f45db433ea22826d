package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/loadtest"
)

// testIdle keeps fasthttp's connection cleaner short-lived so that the
// leak check sees it exit.
const testIdle = 50 * time.Millisecond

// loadtestCmd runs mlgate loadtest in-process and returns its exit code,
// stdout and stderr.
func loadtestCmd(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cmdLoadtest(ctx, append([]string{"--idle-timeout", testIdle.String()}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// checkLeaks verifies, after every other cleanup, that no goroutine the
// test started outlived it. Call it first in a test.
func checkLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// served describes the headers a test server stamps on a response.
type served struct {
	alias, version, runID string
}

// predictions answers like mlgate: 200, provenance headers and a
// predictions body.
func predictions(w http.ResponseWriter, p served) {
	for k, v := range map[string]string{"X-Model-Name": "churn-gbm", "X-Model-Alias": p.alias,
		"X-Model-Version": p.version, "X-Mlflow-Run-Id": p.runID} {
		if v != "" {
			w.Header().Set(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"predictions": [{"probability": 0.25}]}`))
}

// httpServer starts an HTTP server on 127.0.0.1 that is closed when the
// test ends.
func httpServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// splitServer answers nine requests in ten from champion v1 and the tenth
// from challenger v2.
func splitServer(t *testing.T) string {
	t.Helper()
	var n atomic.Int64
	return httpServer(t, func(w http.ResponseWriter, r *http.Request) {
		p := served{alias: "champion", version: "1", runID: "cf2941b1111242ff806c0b75daaf749d"}
		if n.Add(1)%10 == 0 {
			p.alias, p.version, p.runID = "challenger", "2", "b8bb2880eff64cf2839703f40a573875"
		}
		predictions(w, p)
	})
}

// silentServer accepts connections and reads requests but never answers.
// It returns its URL and a channel that receives once per accepted
// connection's first bytes.
func silentServer(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1024)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				buf := make([]byte, 4096)
				first := true
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					if first {
						got <- struct{}{}
						first = false
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String(), got
}

// loadtestData returns a fixture of the loadtest package's testdata.
func loadtestData(t *testing.T, name string) string {
	t.Helper()
	return testutil.Path(t, "loadtest", "testdata", name)
}

func TestCommandRejectsBadFlags(t *testing.T) {
	example := loadtestData(t, "churn-gbm-v1-serving_input_example.json")
	tests := []struct {
		name     string
		args     []string
		wantFlag string
	}{
		{"unknown flag", []string{"--nope"}, "-nope"},
		{"bad number", []string{"--rate", "fast", "--example", example}, "-rate"},
		{"negative rate", []string{"--rate", "-5", "--example", example}, "--rate"},
		{"zero connections", []string{"--connections", "0", "--example", example}, "--connections"},
		{"both loops", []string{"--rate", "10", "--connections", "3", "--example", example}, "--connections"},
		{"max-inflight closed", []string{"--max-inflight", "3", "--example", example}, "--max-inflight"},
		{"no payload", []string{"--requests", "3"}, "--example"},
		{"two payloads", []string{"--example", example, "--body", example}, "--body"},
		{"rows without model", []string{"--rows", "3", "--example", example}, "--rows"},
		{"missing example", []string{"--example", "testdata/missing.json"}, "--example"},
		{"missing model dir", []string{"--model-dir", "testdata/missing"}, "--model-dir"},
		{"bad split", []string{"--expect-split", "champion", "--example", example}, "--expect-split"},
		{"bad key order", []string{"--key-order", "zigzag", "--example", example}, "--key-order"},
		{"bad confidence", []string{"--confidence", "100", "--example", example}, "--confidence"},
		{"bad header", []string{"--header", "no colon", "--example", example}, "-header"},
		{"bad url", []string{"--url", "ftp://host", "--example", example}, "--url"},
		{"bad duration", []string{"--duration", "-1s", "--example", example}, "--duration"},
		{"empty bench name", []string{"--bench-name", " ", "--example", example}, "--bench-name"},
		{"stray argument", []string{"--example", example, "extra"}, `"extra"`},
		{"unwritable json", []string{"--example", example, "--json", "testdata/no/such/dir/r.json"}, "--json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := loadtestCmd(t, context.Background(), tt.args...)
			if code != 2 {
				t.Errorf("exit code %d; want %d (stderr %q)", code, 2, stderr)
			}
			if !strings.Contains(stderr, tt.wantFlag) {
				t.Errorf("stderr %q does not name %s", stderr, tt.wantFlag)
			}
			if stdout != "" {
				t.Errorf("stdout %q; want nothing", stdout)
			}
		})
	}
}

func TestCommandRunsAndWritesReports(t *testing.T) {
	checkLeaks(t)
	url := splitServer(t)
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	code, stdout, stderr := loadtestCmd(t, context.Background(),
		"--url", url, "--connections", "2", "--requests", "200",
		"--example", loadtestData(t, "churn-gbm-v1-serving_input_example.json"),
		"--header", "X-User-Id: {{key}}", "--keys", "5",
		"--expect-split", "champion=90,challenger=10", "--confidence", "99",
		"--json", jsonPath, "--html", htmlPath, "--bench-name", "Churn")
	if code != 0 {
		t.Fatalf("exit code %d; want 0\nstderr: %s\nstdout: %s", code, stderr, stdout)
	}
	for _, want := range []string{"Load test: closed loop, 2 connections", "Expected split by alias at 99% confidence: PASS", "\nBenchmarkLoad/Churn 200 "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout does not contain %q:\n%s", want, stdout)
		}
	}
	f, err := os.Open(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := loadtest.ReadReport(f)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests.OK != 200 || rep.Config.Keys != 5 || rep.Config.Confidence != 0.99 || rep.Split == nil || !rep.Split.Pass {
		t.Errorf("JSON report: got requests %+v, keys %d, confidence %v, split %+v", rep.Requests, rep.Config.Keys, rep.Config.Confidence, rep.Split)
	}
	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := rep.WriteHTML(&want); err != nil {
		t.Fatal(err)
	}
	if got, n := bytes.Count(page, []byte("<svg ")), bytes.Count(want.Bytes(), []byte("<svg ")); got != n || n == 0 {
		t.Errorf("HTML has %d charts; want the report's %d", got, n)
	}
}

func TestCommandFailsOnWrongSplit(t *testing.T) {
	checkLeaks(t)
	code, stdout, stderr := loadtestCmd(t, context.Background(),
		"--url", splitServer(t), "--connections", "1", "--requests", "100",
		"--example", loadtestData(t, "churn-gbm-v1-serving_input_example.json"),
		"--expect-split", "1=50,2=50")
	if code != 1 {
		t.Errorf("exit code %d; want %d", code, 1)
	}
	if !strings.Contains(stdout, "Expected split by version at 99.9% confidence: FAIL") || !strings.Contains(stderr, "--expect-split") {
		t.Errorf("got stdout %q, stderr %q; want a failed split check", stdout, stderr)
	}
}

func TestCommandReadsEnvironment(t *testing.T) {
	checkLeaks(t)
	var n atomic.Int64
	url := httpServer(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		predictions(w, served{version: "1"})
	})
	example := loadtestData(t, "churn-gbm-v1-serving_input_example.json")
	t.Setenv("MLGATE_LOADTEST_URL", url)
	t.Setenv("MLGATE_LOADTEST_EXAMPLE", example)
	t.Setenv("MLGATE_LOADTEST_CONNECTIONS", "1")
	t.Setenv("MLGATE_LOADTEST_REQUESTS", "7")
	t.Setenv("MLGATE_LOADTEST_HEADER", "X-A: 1\nX-B: 2")

	code, stdout, stderr := loadtestCmd(t, context.Background(), "--json", filepath.Join(t.TempDir(), "r.json"))
	if code != 0 {
		t.Fatalf("exit code %d; want 0\nstderr: %s", code, stderr)
	}
	if got := n.Load(); got != 7 {
		t.Errorf("server saw %d requests; want 7 (from MLGATE_LOADTEST_REQUESTS)", got)
	}
	if !strings.Contains(stdout, "closed loop, 1 connection\n") {
		t.Errorf("stdout %q; want 1 connection from the environment", stdout)
	}

	// The flag wins over the variable.
	n.Store(0)
	dir := t.TempDir()
	code, _, stderr = loadtestCmd(t, context.Background(), "--requests", "3", "--json", filepath.Join(dir, "r.json"))
	if code != 0 || n.Load() != 3 {
		t.Errorf("exit %d, server saw %d requests; want 0 and 3 (stderr %s)", code, n.Load(), stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep loadtest.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if want := []string{"X-A: 1", "X-B: 2"}; len(rep.Config.Headers) != 2 || rep.Config.Headers[0] != want[0] || rep.Config.Headers[1] != want[1] {
		t.Errorf("headers %v; want %v from MLGATE_LOADTEST_HEADER", rep.Config.Headers, want)
	}

	t.Setenv("MLGATE_LOADTEST_RATE", "lots")
	code, _, stderr = loadtestCmd(t, context.Background())
	if code != 2 || !strings.Contains(stderr, "--rate") || !strings.Contains(stderr, "MLGATE_LOADTEST_RATE") {
		t.Errorf("exit %d, stderr %q; want %d naming --rate and MLGATE_LOADTEST_RATE", code, stderr, 2)
	}
}

func TestCommandInterrupted(t *testing.T) {
	checkLeaks(t)
	url, accepted := silentServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-accepted
		cancel()
	}()
	code, stdout, stderr := loadtestCmd(t, ctx, "--url", url, "--connections", "1", "--duration", "1h", "--timeout", "1h",
		"--example", loadtestData(t, "churn-gbm-v1-serving_input_example.json"))
	if code != 1 || !strings.Contains(stderr, "interrupted") {
		t.Errorf("exit %d, stderr %q; want %d and an interruption message", code, stderr, 1)
	}
	if !strings.Contains(stdout, "Interrupted") || !strings.Contains(stdout, "aborted x1") {
		t.Errorf("stdout %q; want the partial report", stdout)
	}
}

func TestCommandHelp(t *testing.T) {
	code, _, stderr := loadtestCmd(t, context.Background(), "-h")
	if code != 0 || !strings.Contains(stderr, "Usage: mlgate loadtest") || !strings.Contains(stderr, loadtestEnvPrefix) {
		t.Errorf("exit %d, stderr %q; want 0 and the usage", code, stderr)
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"max-inflight": "MLGATE_LOADTEST_MAX_INFLIGHT", "url": "MLGATE_LOADTEST_URL",
		"expect-split": "MLGATE_LOADTEST_EXPECT_SPLIT", "bench-name": "MLGATE_LOADTEST_BENCH_NAME",
	} {
		if got := loadtestEnv(flag); len(got) != 1 || got[0] != want {
			t.Errorf("loadtestEnv(%q) = %q; want %q", flag, got, want)
		}
	}
}

func TestCommandGeneratesBodiesFromSignature(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	var bodies [][]byte
	url := httpServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		predictions(w, served{version: "1"})
	})
	tests := []struct {
		name string
		args []string
		key  string // the body's format key
	}{
		{"model dir, column signature", []string{"--model-dir", loadtestData(t, "churn-gbm-v1")}, `{"dataframe_split": {"columns": ["tenure", `},
		{"mlmodel, tensor signature", []string{"--mlmodel", loadtestData(t, "churn-gbm-v2/MLmodel")}, `{"inputs": [[`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			bodies = nil
			mu.Unlock()
			args := append([]string{"--url", url, "--connections", "1", "--requests", "4", "--rows", "3", "--distinct", "2"}, tt.args...)
			if code, _, stderr := loadtestCmd(t, context.Background(), args...); code != 0 {
				t.Fatalf("exit code %d; want 0 (stderr %s)", code, stderr)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(bodies) != 4 {
				t.Fatalf("server got %d requests; want 4", len(bodies))
			}
			for i, b := range bodies {
				if !strings.HasPrefix(string(b), tt.key) || !json.Valid(b) {
					t.Errorf("body %d = %s; want valid JSON starting %s", i, b, tt.key)
				}
			}
			// Two distinct bodies, sent in rotation.
			if !bytes.Equal(bodies[0], bodies[2]) || bytes.Equal(bodies[0], bodies[1]) {
				t.Errorf("bodies do not rotate over 2 distinct ones: %q", bodies)
			}
		})
	}
}
