package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// command runs Command and returns its exit code, stdout and stderr.
func command(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	// A short idle timeout lets fasthttp's connection cleaner exit before
	// the leak check.
	code := Command(ctx, append([]string{"--idle-timeout", testIdle.String()}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCommandRejectsBadFlags(t *testing.T) {
	example := testdataPath(t, "churn-gbm-v1-serving_input_example.json")
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
			code, stdout, stderr := command(t, context.Background(), tt.args...)
			if code != ExitUsage {
				t.Errorf("exit code %d; want %d (stderr %q)", code, ExitUsage, stderr)
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
	code, stdout, stderr := command(t, context.Background(),
		"--url", url, "--connections", "2", "--requests", "200",
		"--example", testdataPath(t, "churn-gbm-v1-serving_input_example.json"),
		"--header", "X-User-Id: {{key}}", "--keys", "5",
		"--expect-split", "champion=90,challenger=10", "--confidence", "99",
		"--json", jsonPath, "--html", htmlPath, "--bench-name", "Churn")
	if code != ExitOK {
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
	rep, err := ReadReport(f)
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
	if got := bytes.Count(page, []byte("<svg ")); got != len(rep.charts()) {
		t.Errorf("HTML has %d charts; want %d", got, len(rep.charts()))
	}
}

func TestCommandFailsOnWrongSplit(t *testing.T) {
	checkLeaks(t)
	code, stdout, stderr := command(t, context.Background(),
		"--url", splitServer(t), "--connections", "1", "--requests", "100",
		"--example", testdataPath(t, "churn-gbm-v1-serving_input_example.json"),
		"--expect-split", "1=50,2=50")
	if code != ExitFail {
		t.Errorf("exit code %d; want %d", code, ExitFail)
	}
	if !strings.Contains(stdout, "Expected split by version at 99.9% confidence: FAIL") || !strings.Contains(stderr, "--expect-split") {
		t.Errorf("got stdout %q, stderr %q; want a failed split check", stdout, stderr)
	}
}

func TestCommandReadsEnvironment(t *testing.T) {
	checkLeaks(t)
	var n atomic.Int64
	url := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		predictions(w, provenance{version: "1"})
	})
	example := testdataPath(t, "churn-gbm-v1-serving_input_example.json")
	t.Setenv("MLGATE_LOADTEST_URL", url)
	t.Setenv("MLGATE_LOADTEST_EXAMPLE", example)
	t.Setenv("MLGATE_LOADTEST_CONNECTIONS", "1")
	t.Setenv("MLGATE_LOADTEST_REQUESTS", "7")
	t.Setenv("MLGATE_LOADTEST_HEADER", "X-A: 1\nX-B: 2")

	code, stdout, stderr := command(t, context.Background(), "--json", filepath.Join(t.TempDir(), "r.json"))
	if code != ExitOK {
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
	code, _, stderr = command(t, context.Background(), "--requests", "3", "--json", filepath.Join(dir, "r.json"))
	if code != ExitOK || n.Load() != 3 {
		t.Errorf("exit %d, server saw %d requests; want 0 and 3 (stderr %s)", code, n.Load(), stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if want := []string{"X-A: 1", "X-B: 2"}; len(rep.Config.Headers) != 2 || rep.Config.Headers[0] != want[0] || rep.Config.Headers[1] != want[1] {
		t.Errorf("headers %v; want %v from MLGATE_LOADTEST_HEADER", rep.Config.Headers, want)
	}

	t.Setenv("MLGATE_LOADTEST_RATE", "lots")
	code, _, stderr = command(t, context.Background())
	if code != ExitUsage || !strings.Contains(stderr, "--rate") || !strings.Contains(stderr, "MLGATE_LOADTEST_RATE") {
		t.Errorf("exit %d, stderr %q; want %d naming --rate and MLGATE_LOADTEST_RATE", code, stderr, ExitUsage)
	}
}

func TestCommandInterrupted(t *testing.T) {
	checkLeaks(t)
	url, accepted := startSilentServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-accepted
		cancel()
	}()
	code, stdout, stderr := command(t, ctx, "--url", url, "--connections", "1", "--duration", "1h", "--timeout", "1h",
		"--example", testdataPath(t, "churn-gbm-v1-serving_input_example.json"))
	if code != ExitFail || !strings.Contains(stderr, "interrupted") {
		t.Errorf("exit %d, stderr %q; want %d and an interruption message", code, stderr, ExitFail)
	}
	if !strings.Contains(stdout, "Interrupted") || !strings.Contains(stdout, "aborted x1") {
		t.Errorf("stdout %q; want the partial report", stdout)
	}
}

func TestCommandHelp(t *testing.T) {
	code, _, stderr := command(t, context.Background(), "-h")
	if code != ExitOK || !strings.Contains(stderr, "Usage: mlgate loadtest") || !strings.Contains(stderr, EnvPrefix) {
		t.Errorf("exit %d, stderr %q; want 0 and the usage", code, stderr)
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"max-inflight": "MLGATE_LOADTEST_MAX_INFLIGHT", "url": "MLGATE_LOADTEST_URL",
		"expect-split": "MLGATE_LOADTEST_EXPECT_SPLIT", "bench-name": "MLGATE_LOADTEST_BENCH_NAME",
	} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q; want %q", flag, got, want)
		}
	}
}

func TestCommandGeneratesBodiesFromSignature(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	var bodies [][]byte
	url := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		predictions(w, provenance{version: "1"})
	})
	tests := []struct {
		name string
		args []string
		key  string // the body's format key
	}{
		{"model dir, column signature", []string{"--model-dir", "testdata/churn-gbm-v1"}, `{"dataframe_split": {"columns": ["tenure", `},
		{"mlmodel, tensor signature", []string{"--mlmodel", "testdata/churn-gbm-v2/MLmodel"}, `{"inputs": [[`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			bodies = nil
			mu.Unlock()
			args := append([]string{"--url", url, "--connections", "1", "--requests", "4", "--rows", "3", "--distinct", "2"}, tt.args...)
			if code, _, stderr := command(t, context.Background(), args...); code != ExitOK {
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
