package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mlgate/mlgate/infer"
	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/signature"
)

func TestMain(m *testing.M) {
	lib, err := infer.FindLibrary("")
	if err == nil {
		err = infer.Init(lib)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "serve tests need ONNX Runtime (run `make onnxruntime`): %v\n", err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, fasthttpGoroutines...)
}

// fasthttpGoroutines are goroutines fasthttp keeps by design: the server
// date ticker (process-wide) and a stopped worker pool's cleaner, which
// sleeps out its idle period before it notices the stop.
var fasthttpGoroutines = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
}

// v1Provenance is churn-gbm v1 as the recorded registry describes it.
var v1Provenance = Provenance{
	Name: "churn-gbm", Version: "1", Alias: "champion",
	RunID:     "cf2941b1111242ff806c0b75daaf749d",
	GitCommit: "3f9c2a1d8e7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a",
	ModelID:   "m-297cf642525145a9a1b78850d630dfcc",
}

func loadModel(t testing.TB, dir string) *infer.Model {
	t.Helper()
	m, err := infer.Load(context.Background(), dir, infer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Release)
	return m
}

// testServer serves churn-gbm v1 (as models:/churn-gbm@champion on route
// "churn", the default) on a loopback port.
type testServer struct {
	*Server
	url string
}

// served deploys each model with v1Provenance.
func served(models map[string]Model) map[string]Deployment {
	deps := map[string]Deployment{}
	for uri, m := range models {
		deps[uri] = Deployment{Model: m, Provenance: v1Provenance}
	}
	return deps
}

// publish compiles specs (default route: the first) with deps and makes
// them live.
func publish(tb testing.TB, s *Server, specs []RouteSpec, deps map[string]Deployment) {
	tb.Helper()
	snap, err := s.Compile(specs, "", deps)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Publish(snap); err != nil {
		tb.Fatal(err)
	}
}

func startServer(t *testing.T, cfg Config, specs []RouteSpec, models map[string]Model) *testServer {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, s, specs, served(models))
	return serveOnLoopback(t, s)
}

// serveOnLoopback serves s's main listener on a loopback port until the
// test ends.
func serveOnLoopback(t *testing.T, s *Server) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	accepting(t, ln.Addr().String())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound against hanging, not a speed test
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		s.Close()
		http.DefaultClient.CloseIdleConnections()
	})
	return &testServer{Server: s, url: "http://" + ln.Addr().String()}
}

// accepting returns once the server serving addr has accepted a connection
// there, so that a test's first request does not race the listener's
// start. It sends GET /live and reads until the server closes
// the connection (a TLS listener closes it too, or resets it).
func accepting(tb testing.TB, addr string) {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second)) // a bound against hanging, not a speed test
	if _, err := c.Write([]byte("GET /live HTTP/1.1\r\nHost: mlgate\r\nConnection: close\r\n\r\n")); err != nil {
		tb.Fatal(err)
	}
	var ne net.Error
	if _, err := io.Copy(io.Discard, c); errors.As(err, &ne) && ne.Timeout() {
		tb.Fatalf("waiting for %s to accept: %v", addr, err)
	}
}

const champion = "models:/churn-gbm@champion"

func championServer(t *testing.T, cfg Config) *testServer {
	m := loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1))
	return startServer(t, cfg,
		[]RouteSpec{{Name: "churn", Targets: []TargetSpec{{URI: champion, Alias: "champion"}}}},
		map[string]Model{champion: m})
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func post(t *testing.T, url, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, data}
}

// recordedCase is one request recorded from MLflow's scoring server.
type recordedCase struct {
	name, contentType, body string
	status                  int
	errorCode               string // "" for a success or a non-JSON answer
}

var curlData = regexp.MustCompile(`--data '((?s).*?)' -D `)
var curlType = regexp.MustCompile(`-H 'Content-Type: ([^']*)'`)

func recordedCases(t *testing.T) []recordedCase {
	t.Helper()
	dir := testutil.Path(t, "testdata", "mlflow-real", "scoring-server-churn-sk")
	matches, err := filepath.Glob(filepath.Join(dir, "invocations--*.curl.txt"))
	if err != nil || len(matches) == 0 {
		t.Fatalf("no recorded invocations in %s: %v", dir, err)
	}
	var out []recordedCase
	for _, path := range matches {
		name := strings.TrimSuffix(filepath.Base(path), ".curl.txt")
		curl, _ := os.ReadFile(path)
		status, _ := os.ReadFile(filepath.Join(dir, name+".status"))
		body, _ := os.ReadFile(filepath.Join(dir, name+".json"))
		c := recordedCase{name: name}
		fmt.Sscan(string(status), &c.status)
		if m := curlData.FindSubmatch(curl); m != nil {
			c.body = string(m[1])
		}
		if m := curlType.FindSubmatch(curl); m != nil {
			c.contentType = string(m[1])
		}
		var e struct {
			ErrorCode string `json:"error_code"`
		}
		if json.Unmarshal(body, &e) == nil {
			c.errorCode = e.ErrorCode
		}
		out = append(out, c)
	}
	return out
}

// TestRecordedScoringRequests replays every request recorded from MLflow's
// scoring server (serving churn-sk, whose input signature churn-gbm v1
// shares) and checks that mlgate answers with the same status and
// error_code, a message that names the model, and provenance headers.
func TestRecordedScoringRequests(t *testing.T) {
	ts := championServer(t, Config{})
	for _, c := range recordedCases(t) {
		t.Run(c.name, func(t *testing.T) {
			r := post(t, ts.url+"/invocations", c.contentType, c.body)
			if r.status != c.status {
				t.Fatalf("status %d (%s); want %d", r.status, r.body, c.status)
			}
			if got := r.header.Get(HeaderRunID); got != v1Provenance.RunID {
				t.Errorf("%s = %q; want %q", HeaderRunID, got, v1Provenance.RunID)
			}
			if got := r.header.Get(HeaderRoute); got != "churn" {
				t.Errorf("%s = %q; want churn", HeaderRoute, got)
			}
			switch {
			case c.status == http.StatusUnsupportedMediaType:
				want, _ := os.ReadFile(testutil.Path(t, "testdata", "mlflow-real", "scoring-server-churn-sk", c.name+".json"))
				if !bytes.Equal(r.body, want) {
					t.Errorf("body %q; want MLflow's %q", r.body, want)
				}
			case c.errorCode != "":
				var e struct {
					ErrorCode string `json:"error_code"`
					Message   string `json:"message"`
				}
				if err := json.Unmarshal(r.body, &e); err != nil {
					t.Fatalf("error body %s: %v", r.body, err)
				}
				if e.ErrorCode != c.errorCode {
					t.Errorf("error_code %s; want %s (message %q)", e.ErrorCode, c.errorCode, e.Message)
				}
				if !strings.HasPrefix(e.Message, "model churn-gbm version 1 (alias champion): ") {
					t.Errorf("message %q does not name the model", e.Message)
				}
			default:
				var p struct{ Predictions []map[string]float64 }
				if err := json.Unmarshal(r.body, &p); err != nil || len(p.Predictions) == 0 {
					t.Fatalf("predictions %s: %v", r.body, err)
				}
				if got := p.Predictions[0]["probability"]; got != 0.23261308670043945 {
					t.Errorf("probability %v; want churn-gbm v1's 0.23261308670043945", got)
				}
			}
		})
	}
}

func TestProvenanceHeaders(t *testing.T) {
	ts := championServer(t, Config{})
	body := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`
	for _, path := range []string{"/invocations", "/routes/churn/invocations"} {
		r := post(t, ts.url+path, "application/json", body)
		if r.status != 200 {
			t.Fatalf("%s: status %d %s", path, r.status, r.body)
		}
		want := map[string]string{
			HeaderModelName: "churn-gbm", HeaderModelVersion: "1", HeaderModelAlias: "champion",
			HeaderRunID: v1Provenance.RunID, HeaderGitCommit: v1Provenance.GitCommit,
			HeaderModelID: v1Provenance.ModelID, HeaderRoute: "churn",
			"Content-Type": "application/json",
		}
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s: %s = %q; want %q", path, k, got, v)
			}
		}
		if got, want := string(r.body), `{"predictions": [{"probability": 0.23261308670043945}]}`; got != want {
			t.Errorf("%s: body %s; want %s", path, got, want)
		}
	}
}

func TestErrors(t *testing.T) {
	ts := championServer(t, Config{MaxBodyBytes: 4096})
	tests := []struct {
		name, method, path, contentType, body string
		status                                int
		code                                  string
		mention                               string
	}{
		{"unknown route", "POST", "/routes/nope/invocations", "application/json", "{}", 404, codeResourceDoesNotExist, "nope"},
		{"unknown path", "GET", "/nope", "", "", 404, codeEndpointNotFound, "/nope"},
		{"wrong method", "GET", "/invocations", "", "", 405, codeBadRequest, "use POST"},
		{"body too large", "POST", "/invocations", "application/json", `{"inputs": [` + strings.Repeat("1,", 4096) + `1]}`, 413, codeBadRequest, "4096 bytes"},
		{"charset", "POST", "/invocations", "application/json; charset=latin-1", "{}", 415, "", "UTF-8"},
		{"format parameter", "POST", "/invocations", "application/json; format=pandas-split", "{}", 415, "", "format"},
		{"no content type", "POST", "/invocations", "", "{}", 415, "", "Got ''"},
		{"bad column value", "POST", "/invocations", "application/json",
			`{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [["x", 1, 2, 3]]}}`,
			400, "BAD_REQUEST", "tenure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.url+tt.path, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%s); want %d", resp.StatusCode, data, tt.status)
			}
			if tt.code != "" {
				var e struct {
					ErrorCode string `json:"error_code"`
					Message   string `json:"message"`
				}
				if err := json.Unmarshal(data, &e); err != nil {
					t.Fatalf("body %s: %v", data, err)
				}
				if e.ErrorCode != tt.code {
					t.Errorf("error_code %s; want %s", e.ErrorCode, tt.code)
				}
			}
			if !strings.Contains(string(data), tt.mention) {
				t.Errorf("body %s does not mention %q", data, tt.mention)
			}
		})
	}
}

func TestNotReady(t *testing.T) {
	specs := []RouteSpec{{Name: "churn", Targets: []TargetSpec{{URI: champion}}}}
	ts := startServer(t, Config{}, specs, nil)
	for _, path := range []string{"/health", "/ping"} {
		resp, err := http.Get(ts.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s before a model is published: %d; want 503", path, resp.StatusCode)
		}
	}
	r := post(t, ts.url+"/invocations", "application/json", "{}")
	if r.status != http.StatusServiceUnavailable || !bytes.Contains(r.body, []byte(champion)) {
		t.Errorf("invocations before a model is published: %d %s; want 503 naming %s", r.status, r.body, champion)
	}
	publish(t, ts.Server, specs, served(map[string]Model{champion: loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1))}))
	resp, err := http.Get(ts.url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(data) != "\n" {
		t.Errorf("/health after publish: %d %q; want 200 \"\\n\" as MLflow answers", resp.StatusCode, data)
	}
}

// TestModelErrorsByBehaviour serves pure-Go fakes: an answer is encoded by
// serve from the model's outputs, a model whose queue is full (an error
// with Overloaded() true, whatever its package) gets 429, and any other
// model error 500; /admin/models shows what the model describes.
func TestModelErrorsByBehaviour(t *testing.T) {
	ok, full, broken := newFakeModel(t, 0.5), newFakeModel(t, 0), newFakeModel(t, 0)
	full.err = fmt.Errorf("waiting for a worker: %w", overloadedError{})
	broken.err = errors.New("inference failed: onnx runtime: bad tensor")
	specs := []RouteSpec{
		{Name: "ok", Targets: []TargetSpec{{URI: "models:/ok/1"}}},
		{Name: "full", Targets: []TargetSpec{{URI: "models:/full/1"}}},
		{Name: "broken", Targets: []TargetSpec{{URI: "models:/broken/1"}}},
	}
	ts := startServer(t, Config{}, specs, map[string]Model{"models:/ok/1": ok, "models:/full/1": full, "models:/broken/1": broken})
	body := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1], [1, 2.0, 3.0, 4]]}}`
	tests := []struct {
		route  string
		status int
		want   string
	}{
		{"ok", 200, `{"predictions": [{"probability": 0.5}, {"probability": 0.5}]}`},
		{"full", 429, "REQUEST_LIMIT_EXCEEDED"},
		{"broken", 500, "bad tensor"},
	}
	for _, tt := range tests {
		r := post(t, ts.url+"/routes/"+tt.route+"/invocations", "application/json", body)
		if r.status != tt.status || !strings.Contains(string(r.body), tt.want) {
			t.Errorf("route %s: %d %s; want %d with %s", tt.route, r.status, r.body, tt.status, tt.want)
		}
	}
	if got := ts.Status().Routes[0].Targets[0].Model; !reflect.DeepEqual(got, map[string]string{"kind": "fake"}) {
		t.Errorf("status model %v; want what the model describes", got)
	}
}

func TestMediaFormat(t *testing.T) {
	for ct, want := range map[string]signature.Format{
		"application/json":                  signature.FormatJSON,
		"Application/JSON":                  signature.FormatJSON,
		" application/json ; charset=UTF-8": signature.FormatJSON,
		"application/json; charset=utf8":    signature.FormatJSON,
		"text/csv":                          signature.FormatCSV,
		"text/csv; charset=\"utf-8\"":       signature.FormatCSV,
		"application/json; charset=latin1":  0,
		"application/jsonx":                 0,
		"":                                  0,
	} {
		if got, msg := mediaFormat([]byte(ct)); got != want || (want == 0) != (msg != "") {
			t.Errorf("mediaFormat(%q) = %v, %q; want %v", ct, got, msg, want)
		}
	}
}
