package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/internal/registrygen"
	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/resolver"
)

// registryConfig serves the models of a registry through one registry
// route over prefix-*, with no configured route.
func registryConfig(t *testing.T, trackingURI, prefix string) Config {
	cfg := testConfig(t, trackingURI)
	cfg.RegistryRoutes = []RegistryRouteConfig{{
		Allow: []string{prefix + "-*"}, Deny: []string{"*-experimental"},
		Aliases: []string{"champion", "challenger"}, DefaultAlias: "champion",
	}}
	return cfg
}

// smallBody is a request the Small fixture answers.
func smallBody(t *testing.T) string {
	return string(registrygen.Files(t, registrygen.Small)["serving_input_example.json"])
}

// adminModelsRaw returns GET /admin/models as JSON values.
func adminModelsRaw(t testing.TB, r *running) map[string]any {
	t.Helper()
	resp, err := http.Get(r.adminURL + "/admin/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// registryFigures returns /admin/models' process.registry_routes.
func registryFigures(t testing.TB, r *running) map[string]float64 {
	t.Helper()
	raw := adminModelsRaw(t, r)["process"].(map[string]any)["registry_routes"].(map[string]any)
	out := map[string]float64{}
	for k, v := range raw {
		if f, ok := v.(float64); ok {
			out[k] = f
		}
	}
	return out
}

// TestRegistryRouteServesRegisteredModels: a registered model no route
// names is served by name and alias on its first request, with its
// provenance; names and aliases the rule does not allow get 404 naming
// why, and a denied or malformed name costs no registry call.
func TestRegistryRouteServesRegisteredModels(t *testing.T) {
	fake := fakemlflow.New(t)
	registrygen.Fake(t, fake, append(registrygen.Many(3, "gen"), registrygen.Model{
		Name: "gen-experimental", Versions: []registrygen.Version{{}}, Aliases: map[string]int{"champion": 1}}))
	r := startApp(t, registryConfig(t, fake.URL(), "gen"))
	body := smallBody(t)

	for _, c := range []struct{ path, version, alias string }{
		{"/models/gen-001@champion/invocations", "1", "champion"},
		{"/models/gen-001@challenger/invocations", "2", "challenger"},
		{"/models/gen-002/invocations", "1", "champion"}, // default_alias
	} {
		got := postJSON(t, r.url+c.path, body)
		if got.status != 200 || got.header.Get("X-Model-Version") != c.version || got.header.Get("X-Model-Alias") != c.alias ||
			!strings.HasPrefix(got.header.Get("X-Model-Name"), "gen-00") {
			t.Fatalf("%s: %d %v %s; want 200 from version %s (%s)", c.path, got.status, got.header, got.body, c.version, c.alias)
		}
	}
	before := len(fake.Requests())
	for _, c := range []struct{ path, says string }{
		{"/models/other@champion/invocations", "no registry route allows"},
		{"/models/gen-experimental@champion/invocations", "no registry route allows"},
		{"/models/gen-001@staging/invocations", `staging\" is not served here`},
		{"/models/gen-001/1/invocations", "not addressable by number"},
		{"/models/gen-001%2F..%2Fx@champion/invocations", `model \"x\" is not served here`}, // the path is normalised first
		{"/models/gen-0%20x@champion/invocations", "registry routes serve names that match"},
	} {
		got := postJSON(t, r.url+c.path, body)
		if got.status != 404 || !strings.Contains(string(got.body), c.says) {
			t.Errorf("%s: %d %s; want 404 saying %q", c.path, got.status, got.body, c.says)
		}
	}
	// The loaded models' URIs are polled meanwhile; no call may name a
	// refused model or alias.
	for _, req := range fake.Requests()[before:] {
		if name := req.Query.Get("name"); name == "other" || name == "gen-experimental" || name == "x" ||
			strings.HasPrefix(name, "gen-0 ") || req.Query.Get("alias") == "staging" {
			t.Errorf("a refused name cost a registry call: %s %s?%s", req.Method, req.Path, req.RawQuery)
		}
	}
	// Registered nowhere: 404 from the registry's answer, then remembered.
	for range 3 {
		got := postJSON(t, r.url+"/models/gen-404@champion/invocations", body)
		if got.status != 404 || !strings.Contains(string(got.body), "gen-404") || strings.Contains(string(got.body), "127.0.0.1") {
			t.Fatalf("unregistered: %d %s; want 404, without the registry's address", got.status, got.body)
		}
	}
	// Why is in /admin/models, not in the answer.
	failed := adminModelsRaw(t, r)["process"].(map[string]any)["registry_routes"].(map[string]any)["failures_remembered"].([]any)
	if len(failed) != 1 || failed[0].(map[string]any)["route"] != "gen-404@champion" ||
		!strings.Contains(failed[0].(map[string]any)["error"].(string), "not found") {
		t.Errorf("failures_remembered %v; want gen-404@champion with the registry's answer", failed)
	}
	f := registryFigures(t, r)
	if f["models"] != 3 || f["loads"] != 3 || f["failures"] != 1 {
		t.Errorf("figures %v; want 3 models from 3 loads, and one failure (gen-404, asked once)", f)
	}
	// The Open Inference Protocol reaches the same models.
	v2 := postJSON(t, r.url+"/v2/models/gen-001/versions/challenger/infer",
		`{"inputs":[{"name":"x0","shape":[1],"datatype":"FP32","data":[0.5]},{"name":"x1","shape":[1],"datatype":"FP32","data":[1]},{"name":"x2","shape":[1],"datatype":"FP32","data":[-1]}]}`)
	if v2.status != 200 || v2.header.Get("X-Model-Version") != "2" || !strings.Contains(string(v2.body), `"model_version":"2"`) {
		t.Errorf("V2 infer: %d %v %s", v2.status, v2.header, v2.body)
	}
}

// TestRegistryRouteSharesOneLoad: concurrent first requests for one model
// wait for one load, and all of them are answered.
func TestRegistryRouteSharesOneLoad(t *testing.T) {
	uri, root := registrygen.SQLiteStore(t, t.TempDir(), registrygen.Many(2, "gen"))
	cfg := registryConfig(t, uri, "gen")
	cfg.ArtifactsRoot = root
	r := startApp(t, cfg)
	body := smallBody(t)
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		wg.Go(func() {
			resp, err := http.Post(r.url+"/models/gen-001@champion/invocations", "application/json", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("request %d: %d; want 200", i, s)
		}
	}
	if f := registryFigures(t, r); f["loads"] != 1 || f["models"] != 1 {
		t.Errorf("figures %v; want one load", f)
	}
}

// TestRegistryRouteBudgetMemory: mixed traffic over 100 registered models
// with a Zipf popularity, with room for 10: no request fails (a cold start
// is answered, or gets 503 with Retry-After), the least recently used go
// first, no more than 10 models and their ONNX Runtime sessions stay
// loaded, and resident memory stays within what 10 take plus a fixed
// overhead (checked without -race; the hit rate is reported).
func TestRegistryRouteBudgetMemory(t *testing.T) {
	// In a copy of the example SQLite store, mlp256 (1.5 MB of weights)
	// so that what a model holds stands out of the allocator's noise;
	// through the fake MLflow server, the small fixture.
	t.Run("sqlite", func(t *testing.T) {
		reg := manyOf(100, registrygen.Larger)
		uri, root := registrygen.SQLiteStore(t, t.TempDir(), reg)
		cfg := registryConfig(t, uri, "gen")
		cfg.ArtifactsRoot = root
		budgetRun(t, cfg, registrygen.Larger)
	})
	t.Run("rest", func(t *testing.T) {
		fake := fakemlflow.New(t)
		registrygen.Fake(t, fake, manyOf(100, registrygen.Small))
		budgetRun(t, registryConfig(t, fake.URL(), "gen"), registrygen.Small)
	})
}

// manyOf returns n models gen-000… with one version of kind, champion.
func manyOf(n int, kind registrygen.Kind) []registrygen.Model {
	var reg []registrygen.Model
	for i := range n {
		reg = append(reg, registrygen.Model{Name: fmt.Sprintf("gen-%03d", i),
			Versions: []registrygen.Version{{Kind: kind}}, Aliases: map[string]int{"champion": 1}})
	}
	return reg
}

// budgetRun runs the budget test's traffic over 100 models with room for
// 10 against cfg, then checks that resident memory grew by no more than
// the first 10 models took plus a fixed overhead.
func budgetRun(t *testing.T, cfg Config, kind registrygen.Kind) {
	const models, room = 100, 10
	cfg.MaxLoadedModels = room
	cfg.ColdStartTimeout = 10 * time.Second
	r := startApp(t, cfg)
	body := string(registrygen.Files(t, kind)["serving_input_example.json"])
	post := func(i int) (int, string) {
		resp, err := http.Post(fmt.Sprintf("%s/models/gen-%03d@champion/invocations", r.url, i), "application/json", strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	// Fill the budget, then measure what 10 cost.
	base := residentBytes()
	for i := range room {
		if s, _ := post(i); s != 200 {
			t.Fatalf("gen-%03d: %d", i, s)
		}
	}
	ten := residentBytes() - base
	sessions := adminModelsRaw(t, r)["process"].(map[string]any)["live_sessions"].(float64)
	// The least recently used goes first.
	post(room)
	if f := registryFigures(t, r); f["models"] != room || f["evictions"] != 1 {
		t.Fatalf("after an 11th model: %v; want %d loaded, 1 evicted", f, room)
	}
	if s, _ := post(1); s != 200 {
		t.Fatal("gen-001 after the eviction")
	}
	routes := map[string]bool{}
	for _, rt := range adminModelsRaw(t, r)["routes"].([]any) {
		routes[rt.(map[string]any)["name"].(string)] = true
	}
	if routes["gen-000@champion"] || !routes["gen-001@champion"] || !routes[fmt.Sprintf("gen-%03d@champion", room)] {
		t.Fatalf("loaded %v; want gen-000 (least recently used) gone", routes)
	}

	var (
		mu                  sync.Mutex
		ok, retried, failed int
		wg                  sync.WaitGroup
		workers, perWorker          = 8, 150
		zipfS, zipfV        float64 = 1.1, 1
	)
	for w := range workers {
		wg.Go(func() {
			z := rand.NewZipf(rand.New(rand.NewPCG(uint64(w), 7)), zipfS, zipfV, models-1)
			for range perWorker {
				s, after := post(int(z.Uint64()))
				mu.Lock()
				switch {
				case s == 200:
					ok++
				case s == 503 && after != "":
					retried++
				default:
					failed++
					t.Errorf("status %d (Retry-After %q)", s, after)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	f := registryFigures(t, r)
	if failed != 0 || f["models"] > room {
		t.Fatalf("%d ok, %d 503+Retry-After, %d failed; figures %v", ok, retried, failed, f)
	}
	// One more model, so that one more unload asks for a trim of the C
	// heap; wait for it, then measure.
	trims := registryFigures(t, r)["memory_trims"]
	for i := 0; registryFigures(t, r)["memory_trims"] == trims; i = (i + 1) % models {
		if s, _ := post(i); s != 200 && s != 503 {
			t.Fatalf("status %d", s)
		}
		time.Sleep(time.Millisecond)
	}
	debug.FreeOSMemory()
	grew := residentBytes() - base
	proc := adminModelsRaw(t, r)["process"].(map[string]any)
	if n := proc["model_cache"].(map[string]any)["versions"].(float64); n > room {
		t.Errorf("%v versions loaded; want at most %d", n, room)
	}
	if n := proc["live_sessions"].(float64); n > sessions {
		t.Errorf("%v ONNX Runtime sessions alive; want at most the %v that %d models had", n, sessions, room)
	}
	t.Logf("%d requests over %d models with room for %d: %d answered, %d 503 with Retry-After; hit rate %.3f; %v loads, %v evictions; "+
		"resident growth %d MiB (the first %d models: %d MiB)",
		ok+retried, models, room, ok, retried, f["hit_rate"], f["loads"], f["evictions"], grew>>20, room, ten>>20)
	if testutil.RaceEnabled {
		return // the race detector's shadow memory is not mlgate's; make test checks RSS without it
	}
	// Within what the budget's 10 models took (ONNX Runtime's one-time
	// set-up included) and a fixed overhead: unloaded models give their
	// memory back (infer.TrimMemory after each unload), however many
	// were loaded in turn.
	if limit := ten + 32<<20; grew > limit {
		t.Errorf("resident memory grew %d MiB; want at most %d MiB (what %d models took, plus 32 MiB)", grew>>20, limit>>20, room)
	}
}

// TestRegistryRouteFollowsAliasUnderLoad: an alias moved while requests
// run on its on-demand model swaps to the new version with no failed
// request, as for configured routes.
func TestRegistryRouteFollowsAliasUnderLoad(t *testing.T) {
	uri, root := registrygen.SQLiteStore(t, t.TempDir(), registrygen.Many(2, "gen"))
	cfg := registryConfig(t, uri, "gen")
	cfg.ArtifactsRoot = root
	r := startApp(t, cfg)
	body := smallBody(t)
	path := r.url + "/models/gen-000@champion/invocations"
	if got := postJSON(t, path, body); got.status != 200 || got.header.Get("X-Model-Version") != "1" {
		t.Fatalf("first request: %d %v", got.status, got.header)
	}
	stop := make(chan struct{})
	var (
		mu       sync.Mutex
		versions = map[string]int{}
		bad      []string
		wg       sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(path, "application/json", strings.NewReader(body))
				mu.Lock()
				if err != nil {
					bad = append(bad, err.Error())
				} else {
					resp.Body.Close()
					if resp.StatusCode != 200 {
						bad = append(bad, strconv.Itoa(resp.StatusCode))
					}
					versions[resp.Header.Get("X-Model-Version")]++
				}
				mu.Unlock()
			}
		})
	}
	registrygen.SetAliasSQLite(t, uri, "gen-000", "champion", 2)
	// Wait, with the requests running, for version 2 to answer.
	for {
		mu.Lock()
		n := versions["2"]
		mu.Unlock()
		if n >= 50 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d failed requests across the alias move: %v", len(bad), bad[:min(len(bad), 5)])
	}
	t.Logf("answers by version: %v", versions)
}

// TestRegistryRouteByteBudget: with a memory budget in bytes, what every
// loaded version is accounted at (its measured resident growth) stays
// within it, the least recently used model making room for the next.
func TestRegistryRouteByteBudget(t *testing.T) {
	var reg []registrygen.Model
	for i := range 6 {
		reg = append(reg, registrygen.Model{Name: fmt.Sprintf("gen-%03d", i),
			Versions: []registrygen.Version{{Kind: registrygen.Larger}}, Aliases: map[string]int{"champion": 1}})
	}
	uri, root := registrygen.SQLiteStore(t, t.TempDir(), reg)
	cfg := registryConfig(t, uri, "gen")
	cfg.ArtifactsRoot = root
	cfg.MaxLoadedBytes = 6 << 20
	r := startApp(t, cfg)
	body := string(registrygen.Files(t, registrygen.Larger)["serving_input_example.json"])
	for round := range 2 {
		for i := range reg {
			got := postJSON(t, fmt.Sprintf("%s/models/gen-%03d@champion/invocations", r.url, i), body)
			if got.status != 200 {
				t.Fatalf("round %d, gen-%03d: %d %s", round, i, got.status, got.body)
			}
			f := registryFigures(t, r)
			if f["loaded_bytes"] > f["max_loaded_bytes"] || f["loaded_bytes"] <= 0 {
				t.Fatalf("round %d, gen-%03d: %v loaded bytes of a %v budget", round, i, f["loaded_bytes"], f["max_loaded_bytes"])
			}
		}
	}
	f := registryFigures(t, r)
	if f["evictions"] == 0 || f["models"] >= float64(len(reg)) {
		t.Fatalf("figures %v; want evictions, and fewer than %d models loaded", f, len(reg))
	}
	t.Logf("budget %v bytes: %v models loaded, %v bytes accounted, %v evictions", f["max_loaded_bytes"], f["models"], f["loaded_bytes"], f["evictions"])
}

// TestRegistryRouteIdleUnload: a model not requested for the idle time is
// unloaded and no longer followed; the next request loads it again.
func TestRegistryRouteIdleUnload(t *testing.T) {
	uri, root := registrygen.SQLiteStore(t, t.TempDir(), registrygen.Many(1, "gen"))
	cfg := registryConfig(t, uri, "gen")
	cfg.ArtifactsRoot = root
	cfg.IdleUnload = 200 * time.Millisecond
	r := startApp(t, cfg)
	body := smallBody(t)
	path := r.url + "/models/gen-000@champion/invocations"
	if got := postJSON(t, path, body); got.status != 200 {
		t.Fatalf("%d %s", got.status, got.body)
	}
	for registryFigures(t, r)["idle_unloads"] == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	if f := registryFigures(t, r); f["models"] != 0 {
		t.Fatalf("after the idle time: %v; want no model loaded", f)
	}
	if _, followed := r.app.watcher.StatusOf(mustURI(t, "models:/gen-000@champion")); followed {
		t.Fatal("an unloaded model is still polled")
	}
	if got := postJSON(t, path, body); got.status != 200 {
		t.Fatalf("after unload: %d %s", got.status, got.body)
	}
	if f := registryFigures(t, r); f["loads"] != 2 {
		t.Fatalf("figures %v; want a second load", f)
	}
}

func mustURI(t *testing.T, s string) resolver.URI {
	t.Helper()
	u, err := resolver.ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
