package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/serve"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mlgate.yaml")
	os.WriteFile(file, []byte(`
listen: 127.0.0.1:9000
tracking_uri: sqlite:///store/mlflow.db
artifacts_root: store/mlartifacts
poll_interval: 7s
request_timeout: 3s
inference:
  workers: 3
routes:
  - name: churn
    model: models:/churn-gbm@champion
`), 0o644)
	env := map[string]string{"MLGATE_POLL_INTERVAL": "9s", "MLGATE_REQUEST_TIMEOUT": "4s", "MLFLOW_TRACKING_URI": "http://ignored"}
	cfg, err := loadConfig("serve", serveSettings,
		[]string{"--config", file, "--request-timeout", "5s"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen (file)", cfg.Listen, "127.0.0.1:9000"},
		{"poll_interval (env over file)", cfg.PollInterval, 9 * time.Second},
		{"request_timeout (flag over env over file)", cfg.RequestTimeout, 5 * time.Second},
		{"tracking_uri (MLFLOW_TRACKING_URI over the file)", cfg.TrackingURI, "http://ignored"},
		{"artifacts_root relative to the file", cfg.ArtifactsRoot, filepath.Join(dir, "store/mlartifacts")},
		{"inference.workers", cfg.Inference.Workers, 3},
		{"routes", cfg.Routes, []RouteConfig{{Name: "churn", Model: "models:/churn-gbm@champion"}}},
		{"default log format", cfg.LogFormat, "json"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v; want %v", c.name, c.got, c.want)
		}
	}
	env = map[string]string{}
	cfg, err = loadConfig("serve", serveSettings, []string{"--config", file}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := "sqlite:///" + filepath.Join(dir, "store/mlflow.db"); cfg.TrackingURI != want {
		t.Errorf("relative sqlite store in the file: got %s; want %s", cfg.TrackingURI, want)
	}
}

// TestConfigurationDocumented keeps docs/configuration.md listing every
// flag, its environment variables and its YAML key.
func TestConfigurationDocumented(t *testing.T) {
	doc, err := os.ReadFile(testutil.Path(t, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range serveSettings {
		if !strings.Contains(string(doc), "`--"+s.flag+"`") {
			t.Errorf("docs/configuration.md does not document --%s", s.flag)
		}
		for _, e := range s.env {
			if !strings.Contains(string(doc), e) {
				t.Errorf("docs/configuration.md does not mention %s", e)
			}
		}
	}
	var walk func(reflect.Type, string)
	walk = func(rt reflect.Type, prefix string) {
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			key := f.Tag.Get("yaml")
			if key == "" || key == "-" {
				continue
			}
			if key == ",inline" {
				walk(f.Type, prefix)
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(f.Type, prefix+key+".")
				continue
			}
			if !strings.Contains(string(doc), "`"+prefix+key+"`") {
				t.Errorf("docs/configuration.md does not document the YAML key %s%s", prefix, key)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
}

// TestShippedConfigs loads the configuration files the repository ships
// (make run's, and the Kubernetes ConfigMap's) with mlgate's own parser.
func TestShippedConfigs(t *testing.T) {
	example := testutil.Path(t, "examples", "mlgate.yaml")
	cm, err := os.ReadFile(testutil.Path(t, "deploy", "kubernetes", "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The ConfigMap's data.mlgate.yaml is the indented block after "mlgate.yaml: |".
	_, block, ok := strings.Cut(string(cm), "mlgate.yaml: |\n")
	if !ok {
		t.Fatal("configmap.yaml has no mlgate.yaml block")
	}
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		lines = append(lines, strings.TrimPrefix(l, "    "))
	}
	k8s := filepath.Join(t.TempDir(), "mlgate.yaml")
	os.WriteFile(k8s, []byte(strings.Join(lines, "\n")), 0o644)

	for _, path := range []string{example, k8s} {
		cfg, err := loadConfig("serve", serveSettings, []string{"--config", path}, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := cfg.validate(); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		routes, err := parseRoutes(cfg)
		if err != nil || len(routes) == 0 {
			t.Errorf("%s: routes %v: %v", path, routes, err)
		}
	}
}

func TestBoolFlagsTakeNoValue(t *testing.T) {
	cfg, err := loadConfig("serve", serveSettings, []string{"--pprof", "--log-level", "warn", "--spinning=false"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Pprof || cfg.LogLevel != "warn" || cfg.Inference.Spinning {
		t.Errorf("got pprof=%v log-level=%s spinning=%v; want true, warn, false", cfg.Pprof, cfg.LogLevel, cfg.Inference.Spinning)
	}
}

// TestRequestLimitsConfig reads the request limits from the file, the
// environment and flags, the route's own limits into its spec, and refuses
// nonsense naming the setting.
func TestRequestLimitsConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mlgate.yaml")
	os.WriteFile(file, []byte(`
tracking_uri: http://mlflow
max_rows: 5000
max_elements: 200000
max_inflight_bytes: 1073741824
routes:
  - name: churn
    model: models:/churn-gbm@champion
    limits:
      max_rows: 10
  - name: batch
    model: models:/churn-gbm@champion
`), 0o644)
	env := map[string]string{"MLGATE_MAX_ELEMENTS": "300000"}
	cfg, err := loadConfig("serve", serveSettings, []string{"--config", file, "--max-inflight-bytes", "-1"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if want := (RequestLimits{MaxRows: 5000, MaxElements: 300000, MaxInflightBytes: -1}); cfg.Limits != want {
		t.Errorf("limits %+v; want %+v", cfg.Limits, want)
	}
	routes, err := parseRoutes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := []serve.Limits{routes[0].Limits, routes[1].Limits}; got[0] != (serve.Limits{MaxRows: 10}) || got[1] != (serve.Limits{}) {
		t.Errorf("route limits %+v; want the first route's max_rows 10 and none for the second", got)
	}
	if d := defaultConfig().Limits; d != (RequestLimits{MaxElements: 1 << 20, MaxInflightBytes: 256 << 20}) {
		t.Errorf("default limits %+v", d)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-rows", "-1"}, "max-rows: -1: must not be negative"},
		{[]string{"--max-elements", "0"}, "max-elements: 0: must be positive"},
		{[]string{"--max-inflight-bytes", "0"}, "max-inflight-bytes: 0: want a positive number, or -1 for no limit"},
	} {
		cfg, err := loadConfig("serve", serveSettings, append([]string{"--config", file}, tt.args...), func(string) string { return "" }, io.Discard)
		if err == nil {
			err = cfg.validate()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v; want an error containing %q", tt.args, err, tt.want)
		}
	}
	cfg.Routes[0].Limits.MaxElements = -3
	if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "routes[0].limits: max_rows and max_elements must not be negative") {
		t.Errorf("negative route limits: %v", err)
	}
}

// TestModelName: --model-name names the route --model serves; without
// --model it is refused, naming the setting.
func TestModelName(t *testing.T) {
	cfg := defaultConfig()
	cfg.TrackingURI, cfg.Model, cfg.ModelName = "sqlite:///x.db", "models:/churn-gbm@champion", "churn-gbm"
	routes, err := parseRoutes(cfg)
	if err != nil || len(routes) != 1 || routes[0].Name != "churn-gbm" {
		t.Fatalf("routes %+v, %v; want one route named churn-gbm", routes, err)
	}
	cfg.ModelName = ""
	if routes, err := parseRoutes(cfg); err != nil || routes[0].Name != "default" {
		t.Errorf("without --model-name: routes %+v, %v; want the route named default", routes, err)
	}
	cfg.Model, cfg.ModelName = "", "churn-gbm"
	cfg.Routes = []RouteConfig{{Name: "churn", Model: "models:/churn-gbm@champion"}}
	if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "model-name") {
		t.Errorf("--model-name without --model: %v; want an error naming model-name", err)
	}
}
