package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/serve"
)

// running is an mlgate serve started in-process on loopback ports.
type running struct {
	url      string // the main listener
	adminURL string // the admin listener
	grpcAddr string // the gRPC listener, when cfg.GRPCListen is set
	app      *app
	stop     func() int
	// logs returns what mlgate has logged so far, as text.
	logs func() string
}

// startApp runs `mlgate serve` with cfg (Listen and AdminListen, and
// GRPCListen when set, are replaced by free loopback ports) and waits
// until it is ready.
func startApp(t testing.TB, cfg Config) *running {
	t.Helper()
	if err := cfg.validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	var logs bytes.Buffer
	sw := &syncWriter{w: &logs}
	log := slog.New(slog.NewTextHandler(sw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := newApp(cfg, log)
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	var ls listeners
	lns := []*net.Listener{&ls.main, &ls.admin}
	if cfg.GRPCListen != "" {
		lns = append(lns, &ls.grpc)
	}
	for _, ln := range lns {
		if *ln, err = serve.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- a.run(ctx, ls) }()
	r := &running{url: "http://" + ls.main.Addr().String(), adminURL: "http://" + ls.admin.Addr().String(), app: a,
		logs: func() string {
			sw.mu.lock()
			defer sw.mu.unlock()
			return logs.String()
		}}
	if ls.grpc != nil {
		r.grpcAddr = ls.grpc.Addr().String()
	}
	stopped := false
	r.stop = func() int {
		if stopped {
			return 0
		}
		stopped = true
		cancel()
		c := <-code
		http.DefaultClient.CloseIdleConnections()
		return c
	}
	t.Cleanup(func() {
		if c := r.stop(); c != 0 {
			t.Errorf("mlgate exited %d", c)
		}
		if t.Failed() {
			t.Logf("mlgate logs:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(r.url + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("mlgate not ready after 20s; logs:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type syncWriter struct {
	w  io.Writer
	mu chanMutex
}

type chanMutex struct{ ch chan struct{} }

func (m *chanMutex) lock() {
	if m.ch == nil {
		m.ch = make(chan struct{}, 1)
	}
	m.ch <- struct{}{}
}
func (m *chanMutex) unlock() { <-m.ch }

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.lock()
	defer s.mu.unlock()
	return s.w.Write(p)
}

// testLogger logs to the test's output when it fails.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// testConfig is a serve configuration with fast polling and a private cache.
func testConfig(t testing.TB, trackingURI string, routes ...RouteConfig) Config {
	cfg := defaultConfig()
	cfg.TrackingURI = trackingURI
	cfg.CacheDir = t.TempDir()
	cfg.Routes = routes
	cfg.PollInterval = 50 * time.Millisecond
	cfg.RegistryTimeout = 2 * time.Second
	cfg.DrainDelay = 0
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

// sqliteStore copies the example registry so that a test may change it.
func sqliteStore(t *testing.T) (trackingURI, artifactsRoot string) {
	t.Helper()
	dst := t.TempDir()
	data, err := os.ReadFile(testutil.Path(t, "examples", "registry", "mlflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dst, "mlflow.db")
	if err := os.WriteFile(db, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return "sqlite:///" + db, testutil.Path(t, "examples", "registry", "mlartifacts")
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func postJSON(t *testing.T, url, body string) reply {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, data}
}

// expectedOutputs reads testdata/mlflow-real/expected/churn-gbm-expected-outputs.json.
type expectedEntry struct {
	RunID      string                     `json:"run_id"`
	ModelID    string                     `json:"model_id"`
	Version    string                     `json:"registered_model_version"`
	ForExample map[string]json.RawMessage `json:"expected_outputs_for_input_example"`
	ForBatch16 map[string]json.RawMessage `json:"expected_outputs_for_batch16"`
}

func expectedOutputs(t *testing.T) map[string]expectedEntry {
	t.Helper()
	var exp map[string]expectedEntry
	data, err := os.ReadFile(testutil.Path(t, "testdata", "mlflow-real", "expected", "churn-gbm-expected-outputs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	return exp
}

// outputs parses a scoring response into one flat list per output.
func outputs(t *testing.T, body []byte) map[string][]float64 { return testutil.Predictions(t, body) }

func checkOutputs(t *testing.T, what string, body []byte, want map[string]json.RawMessage) {
	t.Helper()
	got := outputs(t, body)
	for name, raw := range want {
		var w any
		json.Unmarshal(raw, &w)
		wv := testutil.Flatten(t, w)
		if len(got[name]) != len(wv) {
			t.Fatalf("%s: output %s has %d values; want %d (body %s)", what, name, len(got[name]), len(wv), body)
		}
		for i := range wv {
			if math.Abs(got[name][i]-wv[i]) > 1e-6 {
				t.Errorf("%s: %s[%d] = %.9g; want %.9g", what, name, i, got[name][i], wv[i])
			}
		}
	}
}

// batch16 builds the 16-row validation batch in the request format each
// version's signature takes.
func batch16(t *testing.T, version string) string {
	t.Helper()
	var b struct {
		Columns        []string             `json:"columns"`
		Rows           [][]float64          `json:"rows"`
		Float32Rows    [][]float64          `json:"float32_rows"`
		Float32Columns map[string][]float64 `json:"float32_columns"`
	}
	data, err := os.ReadFile(testutil.Path(t, "testdata", "mlflow-real", "expected", "batch16-inputs.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(data, &b)
	var v any
	switch version {
	case "1":
		v = map[string]any{"dataframe_split": map[string]any{"columns": b.Columns, "data": b.Rows}}
	case "2":
		v = map[string]any{"inputs": b.Float32Rows}
	default:
		v = map[string]any{"inputs": b.Float32Columns}
	}
	out, _ := json.Marshal(v)
	return string(out)
}

var recordedRoutes = []RouteConfig{
	{Name: "champion", Model: "models:/churn-gbm@champion"},               // v1: column signature
	{Name: "challenger", Model: "models:/churn-gbm@challenger"},           // v2: tensor signature
	{Name: "v3", Model: "models:/churn-gbm/3"},                            // named tensors (mis-converted)
	{Name: "v4", Model: "models:/churn-gbm/4"},                            // named tensors
	{Name: "latest", Model: "models:/churn-gbm/latest"},                   // = v4
	{Name: "production", Model: "models:/churn-gbm/Production"},           // = v1
	{Name: "logged", Model: "models:/m-27fa626c559e41928fdd5a395ddfa166"}, // v4's LoggedModel
}

// TestServeEndToEnd serves every recorded churn-gbm version through the
// whole stack (registry, artifact download, ONNX Runtime, HTTP) from both
// kinds of registry, and checks ORT's reference outputs to 1e-6 and the
// provenance headers.
func TestServeEndToEnd(t *testing.T) {
	exp := expectedOutputs(t)
	byVersion := map[string]expectedEntry{}
	for _, e := range exp {
		byVersion[e.Version] = e
	}
	stores := map[string]func(t *testing.T) Config{
		"rest": func(t *testing.T) Config {
			fake := fakemlflow.New(t)
			return testConfig(t, fake.URL(), recordedRoutes...)
		},
		"sqlite": func(t *testing.T) Config {
			uri, root := sqliteStore(t)
			cfg := testConfig(t, uri, recordedRoutes...)
			cfg.ArtifactsRoot = root
			return cfg
		},
	}
	routeVersion := map[string]string{"champion": "1", "challenger": "2", "v3": "3", "v4": "4", "latest": "4", "production": "1", "logged": "4"}
	for store, config := range stores {
		t.Run(store, func(t *testing.T) {
			mg := startApp(t, config(t))
			for route, version := range routeVersion {
				e := byVersion[version]
				example, err := os.ReadFile(testutil.RecordedModel(t, "churn-gbm", int(version[0]-'0')) + "/serving_input_example.json")
				if err != nil {
					t.Fatal(err)
				}
				url := mg.url + "/routes/" + route + "/invocations"
				for what, body := range map[string]string{"input example": string(example), "batch16": batch16(t, version)} {
					r := postJSON(t, url, body)
					if r.status != 200 {
						t.Fatalf("%s %s: status %d %s", route, what, r.status, r.body)
					}
					want := e.ForExample
					if what == "batch16" {
						want = e.ForBatch16
					}
					checkOutputs(t, route+" "+what, r.body, want)
					if route != "logged" && r.header.Get("X-Model-Version") != version {
						t.Errorf("%s: X-Model-Version %q; want %s", route, r.header.Get("X-Model-Version"), version)
					}
					if got := r.header.Get("X-Mlflow-Run-Id"); got != e.RunID {
						t.Errorf("%s: X-Mlflow-Run-Id %q; want %s", route, got, e.RunID)
					}
					if got := r.header.Get("X-Model-Id"); got != e.ModelID {
						t.Errorf("%s: X-Model-Id %q; want %s", route, got, e.ModelID)
					}
					if got := r.header.Get("X-Route"); got != route {
						t.Errorf("X-Route %q; want %s", got, route)
					}
				}
			}
			// The default route is the first: churn-gbm@champion, with the
			// provenance the README's quick start shows.
			r := postJSON(t, mg.url+"/invocations", `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`)
			if string(r.body) != `{"predictions": [{"probability": 0.23261308670043945}]}` ||
				r.header.Get("X-Mlflow-Run-Id") != "cf2941b1111242ff806c0b75daaf749d" || r.header.Get("X-Model-Alias") != "champion" {
				t.Errorf("default route: %d %s %v", r.status, r.body, r.header)
			}
		})
	}
}

// TestConfigErrors checks that bad configuration fails at start with exit
// code 2 and a message naming the setting.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badYAML, []byte("listen: 127.0.0.1:0\nroutez: []\n"), 0o644)
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--model", "models:/churn-gbm@champion"}, nil, "tracking-uri"},
		{[]string{"--tracking-uri", "sqlite:///x.db"}, nil, "model"},
		{[]string{"--tracking-uri", "sqlite:///x.db", "--model", "models:/churn-gbm@champion", "--poll-interval", "soon"}, nil, "--poll-interval"},
		{[]string{"--tracking-uri", "sqlite:///x.db", "--model", "models:/churn-gbm@champion"}, map[string]string{"MLGATE_MAX_BODY_BYTES": "lots"}, "MLGATE_MAX_BODY_BYTES"},
		{[]string{"--config", badYAML}, nil, "routez"},
		{[]string{"--tracking-uri", "sqlite:///x.db", "--model", "models:/churn-gbm@champion", "--on-missing", "shrug"}, nil, "on-missing"},
		{[]string{"--tracking-uri", "sqlite:///x.db", "--model", "models:/churn-gbm@champion", "--log-level", "loud"}, nil, "log-level"},
		{[]string{"--tracking-uri", "sqlite:///x.db", "--model", "models:/churn-gbm@champion", "--batching", "eager"}, nil, "batching"},
		{[]string{"--tracking-uri", "ftp://x", "--model", "models:/churn-gbm@champion"}, nil, "tracking-uri"},
		{[]string{"--tracking-uri", "sqlite:///x.db", "--model", "churn-gbm"}, nil, "model"},
		{[]string{"--tracking-uri", "sqlite:///x.db", "--model", "models:/churn-gbm@champion", "--status-events", "0"}, nil, "status-events"},
		{[]string{"--tracking-uri", "sqlite:///x.db", "--model", "models:/churn-gbm@champion", "--status-events", "100001"}, nil, "status-events"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stderr bytes.Buffer
			code := cmdServe(t.Context(), tt.args, io.Discard, &stderr)
			if code == 0 {
				t.Fatalf("exit 0; want a failure naming %s", tt.want)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not name %q", stderr.String(), tt.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"version"}, &out, io.Discard); code != 0 || out.String() != fmt.Sprintf("mlgate %s\n", version) {
		t.Errorf("mlgate version: %d %q", code, out.String())
	}
}
