package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/resolver"
)

// postReload asks for a reload through the admin endpoint and returns its
// status and body.
func postReload(t *testing.T, mg *running) (int, string) {
	t.Helper()
	resp, err := http.Post(mg.adminURL+"/admin/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// adminModelsNormalised is GET /admin/models with the figures that move by
// themselves (how long ago the registry answered) taken out.
func adminModelsNormalised(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/admin/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	var drop func(any)
	drop = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			delete(x, "staleness_seconds")
			// ONNX Runtime sessions alive in the whole test binary: other
			// tests' apps may still be letting theirs go. The app's own
			// loaded versions are in model_cache, which stays.
			delete(x, "live_sessions")
			for _, e := range x {
				drop(e)
			}
		case []any:
			for _, e := range x {
				drop(e)
			}
		}
	}
	drop(v)
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// dumpLineup describes the fleet's current lineup: its routes, default
// route, the inference settings of each URI and the version serving it.
func dumpLineup(t *testing.T, f *fleet) string {
	t.Helper()
	cur := f.current()
	var b strings.Builder
	specs, err := json.Marshal(specsOf(cur.routes))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "routes %s\ndefault %q\n", specs, cur.defaultRoute)
	var lines []string
	for u, c := range cur.configs {
		line := fmt.Sprintf("%s: workers=%d intra=%d inter=%d spinning=%v batching=%s rows=%d delay=%s queue=%d",
			u, c.Workers, c.IntraOpThreads, c.InterOpThreads, c.Spinning, c.Batching, c.MaxBatchRows, c.MaxDelay, c.QueueRows)
		if v := cur.versions[u]; v != nil {
			line += fmt.Sprintf(" serving %q %+v", v.key, v.prov)
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	b.WriteString(strings.Join(lines, "\n"))
	return b.String()
}

// TestRejectedReloadChangesNothing fails a reload at every step it can fail
// at (the file, its validation, a route, batching, resolving, downloading
// and loading a model new to the routes, the route table as a whole), each
// time with inference settings that differ from the running ones. After
// each, /admin/models and the fleet's lineup are what they were, and a
// later alias move still loads the new version with the running settings.
func TestRejectedReloadChangesNothing(t *testing.T) {
	fake := fakemlflow.New(t)
	cfg := testConfig(t, fake.URL(), championRoute)
	cfg.PollInterval = time.Hour // the alias moves when the test refreshes
	cfg.Inference.Workers = 1
	mg := startApp(t, cfg)

	noONNX := fake.Files("churn-gbm", "1")
	noONNX["MLmodel"] = []byte("flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n  sklearn:\n    pickled_model: model.pkl\n")
	vNoONNX := fake.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: noONNX})
	corrupt := fake.Files("churn-gbm", "1")
	corrupt["model.onnx"] = []byte("not an onnx protobuf at all")
	vCorrupt := fake.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: corrupt})
	badYAML := filepath.Join(t.TempDir(), "mlgate.yaml")
	if err := os.WriteFile(badYAML, []byte("routes: [{name: churn, model: \"models:/churn-gbm@champion\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// with returns the running configuration with routes replaced and
	// other inference settings, so that a leak of them shows.
	with := func(routes ...RouteConfig) Config {
		c := cfg
		c.Inference.Workers = 2
		c.Routes = routes
		return c
	}
	v3 := RouteConfig{Name: "v3", Model: "models:/churn-gbm/3"}
	off := &BatchingConfig{Mode: "off"}
	fromFile := func() (Config, error) {
		return loadConfig("serve", serveSettings, []string{"--config", badYAML}, func(string) string { return "" }, io.Discard)
	}
	cases := []struct {
		name    string
		read    func() (Config, error)
		mention string
	}{
		{"file does not parse", fromFile, "config file"},
		{"invalid setting", func() (Config, error) { return with(championRoute, RouteConfig{Model: "models:/churn-gbm/3"}), nil }, "routes[1].name"},
		{"bad model URI", func() (Config, error) { return with(championRoute, RouteConfig{Name: "x", Model: "models:/"}), nil }, "routes[1].model"},
		{"batching of a model that stays", func() (Config, error) {
			return with(RouteConfig{Name: "churn", Model: "models:/churn-gbm@champion", Batching: off}), nil
		}, "needs a restart"},
		{"two batching settings for one model", func() (Config, error) {
			return with(championRoute, v3, RouteConfig{Name: "v3-off", Model: "models:/churn-gbm/3", Batching: off}), nil
		}, "different batching settings"},
		{"route name", func() (Config, error) {
			return with(championRoute, RouteConfig{Name: "a/b", Model: "models:/churn-gbm/3"}), nil
		}, "must match"},
		{"route named twice", func() (Config, error) {
			return with(championRoute, RouteConfig{Name: "churn", Model: "models:/churn-gbm/3"}), nil
		}, "used twice"},
		{"default route missing", func() (Config, error) {
			c := with(championRoute, v3)
			c.DefaultRoute = "nope"
			return c, nil
		}, "no route has that name"},
		{"new alias does not resolve", func() (Config, error) {
			return with(championRoute, v3, RouteConfig{Name: "x", Model: "models:/churn-gbm@nope"}), nil
		}, "nope"},
		{"new version has no onnx flavor", func() (Config, error) {
			return with(championRoute, v3, RouteConfig{Name: "x", Model: "models:/churn-gbm/" + vNoONNX}), nil
		}, "no onnx flavor"},
		{"new version's model.onnx is corrupt", func() (Config, error) {
			return with(championRoute, v3, RouteConfig{Name: "x", Model: "models:/churn-gbm/" + vCorrupt}), nil
		}, "model.onnx"},
	}
	before, lineup := adminModelsNormalised(t, mg.adminURL), dumpLineup(t, mg.app.fleet)
	for _, c := range cases {
		mg.app.reloadConfig = c.read
		status, body := postReload(t, mg)
		if status != 400 || !strings.Contains(body, c.mention) {
			t.Errorf("%s: reload answered %d %s; want 400 mentioning %q", c.name, status, body, c.mention)
		}
		if after := adminModelsNormalised(t, mg.adminURL); after != before {
			t.Errorf("%s: /admin/models changed:\n%s\nwant\n%s", c.name, after, before)
		}
		if after := dumpLineup(t, mg.app.fleet); after != lineup {
			t.Errorf("%s: lineup changed:\n%s\nwant\n%s", c.name, after, lineup)
		}
	}

	fake.SetAlias("churn-gbm", "champion", "2")
	resp, err := http.Post(mg.adminURL+"/admin/refresh", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := servedVersion(t, mg.url+"/invocations"); v != "2" {
		t.Fatalf("after the alias moved: serving %s; want 2", v)
	}
	if w := modelWorkers(t, mg.adminURL, "churn"); w != 1 {
		t.Errorf("the version loaded after rejected reloads has %v workers; want the running setting, 1", w)
	}

	// The checks above can see a change: an accepted reload changes both.
	challenger := RouteConfig{Name: "challenger", Model: "models:/churn-gbm@challenger"}
	mg.app.reloadConfig = func() (Config, error) { return with(championRoute, v3, challenger), nil }
	if status, body := postReload(t, mg); status != 200 {
		t.Fatalf("good reload: %d %s", status, body)
	}
	if adminModelsNormalised(t, mg.adminURL) == before || dumpLineup(t, mg.app.fleet) == lineup {
		t.Error("an accepted reload left /admin/models or the lineup as they were")
	}
	if w := modelWorkers(t, mg.adminURL, "v3"); w != 1 {
		t.Errorf("a version new to the routes after a reload has %v workers; want the running setting, 1 (global inference settings take effect on restart)", w)
	}
	// A URI new to the routes is followed once the reload is live.
	fake.SetAlias("churn-gbm", "challenger", "3")
	resp, err = http.Post(mg.adminURL+"/admin/refresh", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := servedVersion(t, mg.url+"/routes/challenger/invocations"); v != "3" {
		t.Errorf("after the added route's alias moved: serving %s; want 3", v)
	}
}

// TestDeployAfterRemoval deploys a version for a URI a reload has just
// removed, as a check already under way would: it is refused, and the URI
// does not serve again.
func TestDeployAfterRemoval(t *testing.T) {
	fake := fakemlflow.New(t)
	v3 := RouteConfig{Name: "v3", Model: "models:/churn-gbm/3"}
	cfg := testConfig(t, fake.URL(), championRoute, v3)
	cfg.PollInterval = time.Hour // no check moves /admin/models's registry figures meanwhile
	mg := startApp(t, cfg)
	u, err := resolver.ParseURI(v3.Model)
	if err != nil {
		t.Fatal(err)
	}
	res, err := mg.app.resolver.Resolve(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := mg.app.resolver.Fetch(t.Context(), res)
	if err != nil {
		t.Fatal(err)
	}
	only := cfg
	only.Routes = []RouteConfig{championRoute}
	mg.app.reloadConfig = func() (Config, error) { return only, nil }
	if status, body := postReload(t, mg); status != 200 {
		t.Fatalf("reload: %d %s", status, body)
	}
	before, lineup := adminModelsNormalised(t, mg.adminURL), dumpLineup(t, mg.app.fleet)
	if err := mg.app.fleet.Deploy(t.Context(), u, res, dir); err == nil || !strings.Contains(err.Error(), "no route uses it") {
		t.Errorf("deploy for a removed URI: %v; want it refused", err)
	}
	if after := adminModelsNormalised(t, mg.adminURL); after != before {
		t.Errorf("/admin/models changed:\n%s\nwant\n%s", after, before)
	}
	if after := dumpLineup(t, mg.app.fleet); after != lineup {
		t.Errorf("lineup changed:\n%s\nwant\n%s", after, lineup)
	}
}

// modelWorkers reads the worker count of route's first target from
// /admin/models.
func modelWorkers(t *testing.T, base, route string) any {
	t.Helper()
	model, _ := target(t, adminModels(t, base), route).Model.(map[string]any)
	if w, ok := model["workers"].(float64); ok {
		return int(w)
	}
	return model["workers"]
}

// TestReloadKeepsGlobalInferenceSettings: a reload that adds a route and
// changes the global inference settings loads the new route's model with
// the running settings, as its log line says (they need a restart), while
// a route's own batching override applies.
func TestReloadKeepsGlobalInferenceSettings(t *testing.T) {
	fake := fakemlflow.New(t)
	cfg := testConfig(t, fake.URL(), championRoute)
	cfg.PollInterval = time.Hour
	mg := startApp(t, cfg)
	next := cfg
	next.Inference.Batching = "off"
	next.Routes = []RouteConfig{championRoute,
		{Name: "v3", Model: "models:/churn-gbm/3"},
		{Name: "v4", Model: "models:/churn-gbm/4", Batching: &BatchingConfig{Mode: "window"}}}
	mg.app.reloadConfig = func() (Config, error) { return next, nil }
	if code, body := postReload(t, mg); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	modes := map[string]string{}
	for _, r := range adminModels(t, mg.adminURL).Routes {
		model, _ := r.Targets[0].Model.(map[string]any)
		modes[r.Name], _ = model["batching"].(string)
	}
	if modes["v3"] != "busy" || modes["v4"] != "window" {
		t.Errorf("batching after the reload %v; want v3 busy (the running global setting), v4 window (its route's)", modes)
	}
}
