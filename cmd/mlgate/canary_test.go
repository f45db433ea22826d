package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlgate/mlgate/infer"
	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/serve"
	"github.com/mlgate/mlgate/signature"
)

// canaryRoute splits churn between champion (v1) and challenger (v2).
func canaryRoute(champion, challenger float64, sticky *StickyConfig) RouteConfig {
	return RouteConfig{Name: "churn", Sticky: sticky, Targets: []TargetConfig{
		{Model: "models:/churn-gbm@champion", Weight: champion},
		{Model: "models:/churn-gbm@challenger", Weight: challenger},
	}}
}

// reloadTo makes the next reload read cfg, and reloads through the admin
// endpoint.
func reloadTo(t *testing.T, mg *running, cfg Config) {
	t.Helper()
	mg.app.reloadConfig = func() (Config, error) { return cfg, nil }
	resp, err := http.Post(mg.adminURL+"/admin/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
}

// countVersions sends n requests (8 at a time) and counts X-Model-Version.
func countVersions(t *testing.T, url string, n int, header func(i int) (string, string)) ([]string, map[string]int) {
	t.Helper()
	client := loadClient(8)
	defer client.CloseIdleConnections()
	versions := make([]string, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(oneRow))
				req.Header.Set("Content-Type", "application/json")
				if header != nil {
					k, v := header(i)
					req.Header.Set(k, v)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("request %d: status %d", i, resp.StatusCode)
				}
				versions[i] = resp.Header.Get("X-Model-Version")
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	counts := map[string]int{}
	for _, v := range versions {
		counts[v]++
	}
	return versions, counts
}

// zSplit bounds a split test's binomial interval at six standard
// deviations: a correct split falls outside it about twice in a billion
// runs (a 99.9% interval failed one run in a thousand per check, which is a
// flaky test), while a wrong weight still lands far outside (85/15 instead
// of 90/10 is 23 standard deviations off over 20,000 requests).
const zSplit = 6

// TestWeightedSplit checks that over 20,000 requests the observed split of
// a 90/10 and a 50/50 canary lies within six standard deviations of the
// weights.
func TestWeightedSplit(t *testing.T) {
	fake := fakemlflow.New(t)
	cfg := testConfig(t, fake.URL(), canaryRoute(90, 10, nil))
	mg := startApp(t, cfg)
	for _, split := range []struct{ champion, challenger float64 }{{90, 10}, {50, 50}} {
		cfg.Routes = []RouteConfig{canaryRoute(split.champion, split.challenger, nil)}
		reloadTo(t, mg, cfg)
		const n = 20000
		_, counts := countVersions(t, mg.url+"/invocations", n, nil)
		p := split.challenger / (split.champion + split.challenger)
		sd := math.Sqrt(n * p * (1 - p))
		lo, hi := n*p-zSplit*sd, n*p+zSplit*sd
		got := float64(counts["2"])
		t.Logf("%v/%v: challenger served %d of %d (6-sigma interval %.0f..%.0f)", split.champion, split.challenger, counts["2"], n, lo, hi)
		if got < lo || got > hi || counts["1"]+counts["2"] != n {
			t.Errorf("%v/%v: counts %v; challenger outside %.0f..%.0f", split.champion, split.challenger, counts, lo, hi)
		}
	}
}

// TestStickyCohorts sends 1,000 keys 20 times each: every key always lands
// on the same target. Then the challenger's weight goes from 10 to 25:
// only keys that must move do, all from champion to challenger.
func TestStickyCohorts(t *testing.T) {
	fake := fakemlflow.New(t)
	sticky := &StickyConfig{Header: "X-User-Id"}
	cfg := testConfig(t, fake.URL(), canaryRoute(90, 10, sticky))
	mg := startApp(t, cfg)
	const keys, repeats = 1000, 20
	key := func(i int) (string, string) { return "X-User-Id", fmt.Sprintf("user-%d", i%keys) }
	versions, _ := countVersions(t, mg.url+"/invocations", keys*repeats, key)
	before := make([]string, keys)
	for i, v := range versions {
		k := i % keys
		if before[k] == "" {
			before[k] = v
		} else if before[k] != v {
			t.Fatalf("key user-%d went to version %s and to %s", k, before[k], v)
		}
	}

	cfg.Routes = []RouteConfig{canaryRoute(75, 25, sticky)}
	reloadTo(t, mg, cfg)
	after, _ := countVersions(t, mg.url+"/invocations", keys, key)
	moved, wrongWay := 0, 0
	for k := range keys {
		if after[k] != before[k] {
			moved++
			if before[k] != "1" || after[k] != "2" {
				wrongWay++
			}
		}
	}
	// Expected: the added 15% of keys. Tolerance: the binomial 99.9%
	// interval for 1,000 keys, 3.29·sqrt(0.15·0.85/1000) ≈ 0.037.
	const expected, tolerance = 0.15, 0.04
	frac := float64(moved) / keys
	t.Logf("weight 10 -> 25: %d of %d keys moved (%.3f; expected %.2f ± %.2f), %d the wrong way", moved, keys, frac, expected, tolerance, wrongWay)
	if wrongWay != 0 || frac > expected+tolerance || frac < expected-tolerance {
		t.Errorf("%d keys moved (%.3f), %d from challenger to champion; want %.2f ± %.2f, all champion -> challenger", moved, frac, wrongWay, expected, tolerance)
	}
}

// TestStickyColumnAndOverride keeps a cohort by a request column, and picks
// a target by the X-Model-Alias override (which a route may turn off).
func TestStickyColumnAndOverride(t *testing.T) {
	fake := fakemlflow.New(t)
	cfg := testConfig(t, fake.URL(), canaryRoute(50, 50, &StickyConfig{Column: "tenure"}))
	mg := startApp(t, cfg)
	url := mg.url + "/invocations"
	seen := map[int]string{}
	for rep := range 5 {
		for tenure := range 50 {
			body := fmt.Sprintf(`{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[%d, 36.0, 1306.52, 1]]}}`, tenure)
			v := postJSON(t, url, body).header.Get("X-Model-Version")
			if rep > 0 && seen[tenure] != v {
				t.Fatalf("tenure %d went to %s then %s", tenure, seen[tenure], v)
			}
			seen[tenure] = v
		}
	}
	for alias, want := range map[string]string{"champion": "1", "challenger": "2"} {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(oneRow))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Model-Alias", alias)
		for range 10 {
			resp, err := http.DefaultClient.Do(req.Clone(t.Context()))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			req.Body = io.NopCloser(strings.NewReader(oneRow))
			if v := resp.Header.Get("X-Model-Version"); v != want || resp.Header.Get("X-Model-Alias") != alias {
				t.Fatalf("override %s: version %s alias %s", alias, v, resp.Header.Get("X-Model-Alias"))
			}
		}
	}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(oneRow))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Model-Alias", "shadow")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "champion, challenger") {
		t.Errorf("unknown override alias: %d %s; want 400 listing the route's aliases", resp.StatusCode, body)
	}
}

// shadowRows generates plausible churn rows, deterministically.
func shadowRows(n int) [][4]float32 {
	rng := rand.New(rand.NewPCG(7, 11))
	rows := make([][4]float32, n)
	contracts := []float32{1, 12, 24}
	for i := range rows {
		tenure := float32(1 + rng.IntN(72))
		monthly := float32(math.Round((20+rng.Float64()*100)*100) / 100)
		total := float32(math.Round(float64(tenure*monthly)*(0.9+0.2*rng.Float64())*100) / 100)
		rows[i] = [4]float32{tenure, monthly, total, contracts[rng.IntN(3)]}
	}
	return rows
}

func namedInputs(rows [][4]float32) string {
	cols := map[string][]float32{}
	names := []string{"tenure", "monthly_charges", "total_charges", "contract_months"}
	for _, r := range rows {
		for j, n := range names {
			cols[n] = append(cols[n], r[j])
		}
	}
	b, _ := json.Marshal(map[string]any{"inputs": cols})
	return string(b)
}

// TestShadowComparison shadows v4 (the correct GBM) with v3 (the same GBM
// mis-converted): the disagreement rate and probability differences mlgate
// reports equal those computed directly from the two models.
func TestShadowComparison(t *testing.T) {
	fake := fakemlflow.New(t)
	route := RouteConfig{Name: "gbm", Model: "models:/churn-gbm/4",
		Shadow: &ShadowConfig{Model: "models:/churn-gbm/3", Sample: 1}}
	mg := startApp(t, testConfig(t, fake.URL(), route))
	url := mg.url + "/routes/gbm/invocations"
	// Ready means the primaries are loaded; the shadow may still be loading.
	waitFor(t, "the shadow model to load", func() bool { return adminModels(t, mg.adminURL).Routes[0].Shadow.Serving != nil })

	rows := shadowRows(400)
	const perRequest = 4
	for i := 0; i < len(rows); i += perRequest {
		r := postJSON(t, url, namedInputs(rows[i:i+perRequest]))
		if r.status != 200 || r.header.Get("X-Model-Version") != "4" {
			t.Fatalf("primary: %d %s", r.status, r.body)
		}
	}
	requests := int64(len(rows) / perRequest)
	var sh *serve.ShadowStatus
	waitFor(t, "every shadow copy to be compared", func() bool {
		sh = adminModels(t, mg.adminURL).Routes[0].Shadow
		return sh != nil && sh.Compared+sh.Errors+sh.Dropped == requests
	})
	if sh.Compared != requests || sh.Errors != 0 || sh.Dropped != 0 {
		t.Fatalf("shadow %+v; want all %d compared", sh, requests)
	}

	// The same comparison, straight from the two models.
	v3, v4 := loadDirect(t, 3), loadDirect(t, 4)
	labels3, probs3 := runDirect(t, v3, rows)
	labels4, probs4 := runDirect(t, v4, rows)
	disagree, sumDiff, maxDiff := 0, 0.0, 0.0
	for i := range rows {
		if labels3[i] != labels4[i] {
			disagree++
		}
		d := math.Abs(probs3[i] - probs4[i])
		sumDiff += d
		maxDiff = max(maxDiff, d)
	}
	wantRate := float64(disagree) / float64(len(rows))
	lab, prob := sh.Outputs["label"], sh.Outputs["probability"]
	t.Logf("v4 shadowed by v3 on %d rows: label disagreement %.4f (direct %.4f), mean |Δp| %.4f (direct %.4f), max %.4f",
		len(rows), lab.DisagreementRate, wantRate, prob.MeanAbsDiff, sumDiff/float64(len(rows)), prob.MaxAbsDiff)
	if lab.Values != int64(len(rows)) || lab.DisagreementRate != wantRate {
		t.Errorf("label: reported %+v; want %d values, disagreement rate %v", lab, len(rows), wantRate)
	}
	if math.Abs(prob.MeanAbsDiff-sumDiff/float64(len(rows))) > 1e-9 || math.Abs(prob.MaxAbsDiff-maxDiff) > 1e-12 {
		t.Errorf("probability: reported mean %v max %v; want %v %v", prob.MeanAbsDiff, prob.MaxAbsDiff, sumDiff/float64(len(rows)), maxDiff)
	}
	if wantRate < 0.3 {
		t.Errorf("v3 and v4 disagree on only %.2f of labels; the fixture should disagree a lot", wantRate)
	}
}

func loadDirect(t *testing.T, version int) *infer.Model {
	m, err := infer.Load(context.Background(), testutil.RecordedModel(t, "churn-gbm", version), infer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Release)
	return m
}

func runDirect(t *testing.T, m *infer.Model, rows [][4]float32) ([]float64, []float64) {
	b := m.Plan().GetBatch()
	defer m.Plan().PutBatch(b)
	if err := m.Plan().Decode(signature.FormatJSON, []byte(namedInputs(rows)), b); err != nil {
		t.Fatal(err)
	}
	p, err := m.Predict(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	out, err := signature.AppendPredictions(nil, b.Records, p.Outputs())
	if err != nil {
		t.Fatal(err)
	}
	o := outputs(t, out)
	return o["label"], o["probability"]
}

// TestShadowFailureNeverTouchesPrimary shadows with a model that cannot
// take the request (v2's unnamed tensor against named inputs): the
// primary answers every request, the shadow's errors are counted.
func TestShadowFailureNeverTouchesPrimary(t *testing.T) {
	fake := fakemlflow.New(t)
	route := RouteConfig{Name: "gbm", Model: "models:/churn-gbm/4",
		Shadow: &ShadowConfig{Model: "models:/churn-gbm@challenger", Sample: 1}}
	mg := startApp(t, testConfig(t, fake.URL(), route))
	url := mg.url + "/routes/gbm/invocations"
	waitFor(t, "the shadow model to load", func() bool { return adminModels(t, mg.adminURL).Routes[0].Shadow.Serving != nil })
	body := namedInputs(shadowRows(1))
	for range 50 {
		if r := postJSON(t, url, body); r.status != 200 {
			t.Fatalf("primary failed with the shadow failing: %d %s", r.status, r.body)
		}
	}
	waitFor(t, "shadow errors", func() bool {
		sh := adminModels(t, mg.adminURL).Routes[0].Shadow
		return sh.Errors+sh.Dropped == 50
	})
	sh := adminModels(t, mg.adminURL).Routes[0].Shadow
	if sh.Errors == 0 || sh.Compared != 0 || !strings.Contains(sh.LastError, "churn-gbm version 2") {
		t.Errorf("shadow %+v; want errors naming the shadow model", sh)
	}
}

// TestReloadUnderLoad reloads the route table several times while clients
// send requests: none fails. A bad configuration is rejected with a message
// and the current routes keep serving.
func TestReloadUnderLoad(t *testing.T) {
	fake := fakemlflow.New(t)
	cfg := testConfig(t, fake.URL(), canaryRoute(90, 10, nil))
	mg := startApp(t, cfg)
	load := runLoad(t, mg.url+"/invocations", 8)

	configs := [][]RouteConfig{
		{canaryRoute(50, 50, nil)},
		{canaryRoute(50, 50, &StickyConfig{Header: "X-User-Id"}), {Name: "v3", Model: "models:/churn-gbm/3"}},
		{canaryRoute(0, 1, nil)},
		{canaryRoute(1, 0, nil), {Name: "v4", Model: "models:/churn-gbm/4"}},
		{canaryRoute(90, 10, nil)},
	}
	for _, routes := range configs {
		cfg.Routes = routes
		reloadTo(t, mg, cfg)
		time.Sleep(300 * time.Millisecond)
	}

	bad := cfg
	bad.Routes = []RouteConfig{{Name: "churn", Model: "models:/churn-gbm@nope"}}
	mg.app.reloadConfig = func() (Config, error) { return bad, nil }
	resp, err := http.Post(mg.adminURL+"/admin/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(msg), "nope") {
		t.Errorf("bad reload: %d %s; want 400 naming the alias", resp.StatusCode, msg)
	}
	load.check(t)
	if r := postJSON(t, mg.url+"/invocations", oneRow); r.status != 200 {
		t.Errorf("after a rejected reload: %d %s", r.status, r.body)
	}
	t.Logf("%d requests across %d reloads, none failed", load.total.Load(), len(configs))
	if st := adminModels(t, mg.adminURL); len(st.Routes) != 1 || len(st.Routes[0].Targets) != 2 {
		t.Errorf("routes after reloads: %+v", st.Routes)
	}
}

// TestRouteBatchingOverride gives one route its own batching mode: its
// model is loaded with it, the other route's with the global setting, and
// two routes may not give one model different settings.
func TestRouteBatchingOverride(t *testing.T) {
	fake := fakemlflow.New(t)
	cfg := testConfig(t, fake.URL(),
		RouteConfig{Name: "churn", Model: "models:/churn-gbm@champion"},
		RouteConfig{Name: "gbm", Model: "models:/churn-gbm/4", Batching: &BatchingConfig{Mode: "off"}})
	mg := startApp(t, cfg)
	modes := map[string]string{}
	for _, r := range adminModels(t, mg.adminURL).Routes {
		model, _ := r.Targets[0].Model.(map[string]any)
		modes[r.Name], _ = model["batching"].(string)
	}
	if modes["churn"] != "busy" || modes["gbm"] != "off" {
		t.Errorf("batching per route %v; want churn busy, gbm off", modes)
	}
	conflict := cfg
	conflict.Routes = append(conflict.Routes, RouteConfig{Name: "gbm-again", Model: "models:/churn-gbm/4", Batching: &BatchingConfig{Mode: "window"}})
	routes, err := parseRoutes(conflict)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inferConfigs(routes, infer.Config{}); err == nil || !strings.Contains(err.Error(), "gbm-again") {
		t.Errorf("conflicting batching: %v; want an error naming the routes", err)
	}
}
