package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/serve"
)

// statusFeed reads GET /admin/status (events after since) raw and decoded.
func statusFeed(t *testing.T, adminURL string, since int64) ([]byte, serve.StatusFeed) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/admin/status?since=%d", adminURL, since))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /admin/status: %d %s", resp.StatusCode, body)
	}
	var feed serve.StatusFeed
	if err := json.Unmarshal(body, &feed); err != nil {
		t.Fatalf("GET /admin/status: %v", err)
	}
	return body, feed
}

func hasEvent(feed serve.StatusFeed, kind, uri, version string) bool {
	for _, e := range feed.Events {
		if e.Kind == kind && e.URI == uri && e.Version == version {
			return true
		}
	}
	return false
}

// statusScenario runs a canary route (champion v1 90%, challenger v2 10%,
// sticky by X-User-Id) and a shadow route (v4 shadowed by v3), sends a
// known set of requests, moves champion to v2 and waits until v1 has been
// retired. It returns the running mlgate and the fake MLflow's URL.
func statusScenario(t *testing.T) (*running, string) {
	t.Helper()
	fake := fakemlflow.New(t)
	canary := canaryRoute(90, 10, &StickyConfig{Header: "X-User-Id"})
	shadow := RouteConfig{Name: "gbm", Model: "models:/churn-gbm/4", Shadow: &ShadowConfig{Model: "models:/churn-gbm/3", Sample: 1}}
	mg := startApp(t, testConfig(t, fake.URL(), canary, shadow))
	waitFor(t, "the shadow model to load", func() bool { return adminModels(t, mg.adminURL).Routes[1].Shadow.Serving != nil })

	churn := mg.url + "/routes/churn/invocations"
	for i := range 40 {
		req, _ := http.NewRequest(http.MethodPost, churn, strings.NewReader(oneRow))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-User-Id", fmt.Sprintf("user-%d", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	rows := shadowRows(40)
	for i := 0; i < len(rows); i += 4 {
		if r := postJSON(t, mg.url+"/routes/gbm/invocations", namedInputs(rows[i:i+4])); r.status != 200 {
			t.Fatalf("gbm: %d %s", r.status, r.body)
		}
	}
	waitFor(t, "every shadow copy to be compared", func() bool { return adminModels(t, mg.adminURL).Routes[1].Shadow.Compared == 10 })

	fake.SetAlias("churn-gbm", "champion", "2")
	forced := func(body string) string {
		req, _ := http.NewRequest(http.MethodPost, churn, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Model-Alias", "champion")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Model-Version")
	}
	waitFor(t, "champion to serve version 2", func() bool {
		s := target(t, adminModels(t, mg.adminURL), "churn").Serving
		return s != nil && s.Version == "2"
	})
	if v := forced(oneRow); v != "2" {
		t.Fatalf("champion answered with version %s after the move; want 2", v)
	}
	waitFor(t, "version 1 to be retired", func() bool {
		_, feed := statusFeed(t, mg.adminURL, 0)
		return hasEvent(feed, serve.EventRetire, "models:/churn-gbm@champion", "1")
	})
	forced(`{"dataframe_split": {"columns": ["tenure"], "data": [[1]]}}`) // 400 from champion v2
	req, _ := http.NewRequest(http.MethodPost, churn, strings.NewReader(oneRow))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Model-Alias", "nobody") // refused before a target
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	return mg, fake.URL()
}

// TestStatusFeedGolden checks GET /admin/status against
// testdata/status/feed.json after a known scenario, with the values that
// vary from run to run (times, latencies, the machine's worker count)
// replaced by placeholders and the events sorted: the schema and every
// count (requests per target and window, shares, shadow comparison, the
// timeline's alias move, swap and retirement) are checked. `go test
// ./cmd/mlgate -run Golden -update` rewrites it.
func TestStatusFeedGolden(t *testing.T) {
	mg, tracking := statusScenario(t)
	body, _ := statusFeed(t, mg.adminURL, 0)
	got := normaliseFeed(t, []byte(strings.ReplaceAll(string(body), tracking, "http://mlflow.test")))
	path := filepath.Join("testdata", "status", "feed.json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("GET /admin/status differs from %s (run with -update after checking):\n%s", path, lineDiff(string(want), string(got)))
	}

	// The events after a seq are only the newer ones.
	_, all := statusFeed(t, mg.adminURL, 0)
	_, newer := statusFeed(t, mg.adminURL, all.EventsNext-2)
	if len(newer.Events) != 2 || newer.Events[1].Seq != all.EventsNext || newer.EventsNext != all.EventsNext {
		t.Errorf("events after %d: %+v; want the last 2 of %d", all.EventsNext-2, newer.Events, all.EventsNext)
	}
}

// volatile are the feed's keys whose values vary from run to run.
var volatile = map[string]string{
	"now": "<time>", "started_at": "<time>", "at": "<time>", "loaded_since": "<time>",
	"last_check": "<time>", "last_success": "<time>", "last_error_at": "<time>", "retired_at": "<time>",
	"seconds": "<seconds>", "staleness_seconds": "<seconds>", "checks": "<count>", "seq": "<seq>", "stale": "<bool>",
	"p50_ms": "<ms>", "p99_ms": "<ms>", "primary_p50_ms": "<ms>", "primary_p99_ms": "<ms>",
	"shadow_p50_ms": "<ms>", "shadow_p99_ms": "<ms>", "mean_shadow_minus_primary_ms": "<ms>",
	"peak_inflight_bytes": "<bytes>", "workers": "<workers>",
}

var workersText = regexp.MustCompile(`\d+ worker\(s\)`)

// normaliseFeed replaces the volatile values of a feed (a zero latency
// stays zero, so that "no requests" still shows), sorts its events and
// indents it.
func normaliseFeed(t *testing.T, body []byte) []byte {
	t.Helper()
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if ph, ok := volatile[k]; ok && e != nil && e != "" && (e != 0.0 || !strings.HasSuffix(k, "_ms")) {
					x[k] = ph
					continue
				}
				x[k] = walk(e)
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case string:
			return workersText.ReplaceAllString(x, "<workers> worker(s)")
		}
		return v
	}
	doc = walk(doc)
	events := doc.(map[string]any)["events"].([]any)
	sort.SliceStable(events, func(i, j int) bool { return fmt.Sprint(events[i]) < fmt.Sprint(events[j]) })
	var out strings.Builder
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	return []byte(out.String())
}
