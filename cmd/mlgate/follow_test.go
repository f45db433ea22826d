package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlgate/mlgate/infer"
	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/serve"
)

const oneRow = `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`

// The bodies churn-gbm v1 (column signature: records) and v2 (tensor
// signature: outputs) answer for oneRow.
var bodyOf = map[string]string{
	"1": `{"predictions": [{"probability": 0.23261308670043945}]}`,
	"2": `{"predictions": {"probability": [[0.2242213487625122]]}}`,
}

var championRoute = RouteConfig{Name: "churn", Model: "models:/churn-gbm@champion"}

// loadClient is an HTTP client for concurrent load on one host.
func loadClient(conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// load sends oneRow from n goroutines until stop is closed, and checks every
// response: 200, and the body the version in its own X-Model-Version
// answers. It returns the responses counted per version.
type loadResult struct {
	stop     func()
	wait     func()
	mu       sync.Mutex
	total    atomic.Int64
	failures []string
	versions map[string]int
}

func runLoad(t *testing.T, url string, n int) *loadResult {
	t.Helper()
	client := loadClient(n)
	stop := make(chan struct{})
	var once sync.Once
	res := &loadResult{versions: map[string]int{}}
	res.stop = func() { once.Do(func() { close(stop) }) }
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Post(url, "application/json", strings.NewReader(oneRow))
				res.total.Add(1)
				if err != nil {
					res.fail(err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				v := resp.Header.Get("X-Model-Version")
				switch {
				case resp.StatusCode != 200:
					res.fail(fmt.Sprintf("status %d: %s", resp.StatusCode, body))
				case string(body) != bodyOf[v]:
					res.fail(fmt.Sprintf("X-Model-Version %s but body %s", v, body))
				default:
					res.mu.Lock()
					res.versions[v]++
					res.mu.Unlock()
				}
			}
		})
	}
	t.Cleanup(func() { res.stop(); wg.Wait(); client.CloseIdleConnections() })
	res.wait = wg.Wait
	return res
}

func (r *loadResult) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) < 20 {
		r.failures = append(r.failures, msg)
	} else {
		r.failures[19] = "… and more"
	}
}

// check stops the load and reports any failed request.
func (r *loadResult) check(t *testing.T) {
	t.Helper()
	r.stop()
	r.wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) > 0 {
		t.Errorf("%d requests, failures:\n%s", r.total.Load(), strings.Join(r.failures, "\n"))
	}
}

// waitFor polls cond every 5ms until it holds or 20s pass.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// servedVersion asks the route which version answers now.
func servedVersion(t *testing.T, url string) string {
	t.Helper()
	r := postJSON(t, url, oneRow)
	return r.header.Get("X-Model-Version")
}

// adminModels reads GET /admin/models.
func adminModels(t *testing.T, base string) serve.ModelsStatus {
	t.Helper()
	resp, err := http.Get(base + "/admin/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st serve.ModelsStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func target(t *testing.T, st serve.ModelsStatus, route string) serve.TargetStatus {
	t.Helper()
	for _, r := range st.Routes {
		if r.Name == route && len(r.Targets) > 0 {
			return r.Targets[0]
		}
	}
	t.Fatalf("no route %s in %+v", route, st)
	return serve.TargetStatus{}
}

// TestAliasFlipsUnderLoad moves champion between v1 and v2 twenty times
// while 16 clients send requests for 10 s: no request may fail, and every
// answer must be the one its own X-Model-Version gives.
func TestAliasFlipsUnderLoad(t *testing.T) {
	fake := fakemlflow.New(t)
	cfg := testConfig(t, fake.URL(), championRoute)
	mg := startApp(t, cfg)
	url := mg.url + "/invocations"

	load := runLoad(t, url, 16)
	versions := []string{"2", "1"}
	for i := range 20 {
		v := versions[i%2]
		fake.SetAlias("churn-gbm", "champion", v)
		waitFor(t, "champion to serve version "+v, func() bool { return servedVersion(t, url) == v })
		time.Sleep(500 * time.Millisecond)
	}
	load.check(t)
	t.Logf("%d requests over 20 alias flips: %v", load.total.Load(), load.versions)
	if load.versions["1"] == 0 || load.versions["2"] == 0 {
		t.Errorf("responses per version %v; want both versions served", load.versions)
	}
	tg := target(t, adminModels(t, mg.adminURL), "churn")
	if len(tg.Swaps) != 20 {
		t.Errorf("admin shows %d swaps; want the last 20 of 20", len(tg.Swaps))
	}
}

// TestSwapLatency measures how soon a moved alias serves: by polling (the
// interval plus the load) and by webhook (delivery plus the load). The
// figures are logged, not asserted: timing belongs to benchmarks.
func TestSwapLatency(t *testing.T) {
	t.Run("polling", func(t *testing.T) {
		fake := fakemlflow.New(t)
		cfg := testConfig(t, fake.URL(), championRoute)
		cfg.PollInterval = 200 * time.Millisecond
		cfg.ModelCacheBytes = 0 // every swap loads
		mg := startApp(t, cfg)
		url := mg.url + "/invocations"
		var worst time.Duration
		for i, v := range []string{"2", "1", "2", "1", "2"} {
			fake.SetAlias("churn-gbm", "champion", v)
			d := waitFor(t, "version "+v, func() bool { return servedVersion(t, url) == v })
			worst = max(worst, d)
			t.Logf("move %d to v%s served after %s (poll interval %s)", i+1, v, d.Round(time.Millisecond), cfg.PollInterval)
		}
		t.Logf("worst: %s", worst.Round(time.Millisecond))
	})
	t.Run("webhook", func(t *testing.T) {
		const secret = "whsec-test"
		fake := fakemlflow.New(t)
		cfg := testConfig(t, fake.URL(), championRoute)
		cfg.PollInterval = time.Hour // only the webhook can notice
		cfg.WebhookSecret = secret
		cfg.ModelCacheBytes = 0
		mg := startApp(t, cfg)
		fake.AddWebhook(mg.url+"/webhooks/mlflow", secret, fakemlflow.EventAliasCreated)
		url := mg.url + "/invocations"
		for i, v := range []string{"2", "1", "2"} {
			start := time.Now()
			fake.SetAlias("churn-gbm", "champion", v) // delivers before returning
			waitFor(t, "version "+v+" after the webhook", func() bool { return servedVersion(t, url) == v })
			t.Logf("move %d to v%s served %s after the alias move (delivery included)", i+1, v, time.Since(start).Round(time.Millisecond))
		}
		for _, d := range fake.Deliveries() {
			if d.StatusCode != 200 {
				t.Errorf("delivery %s: status %d %v", d.ID, d.StatusCode, d.Err)
			}
		}
	})
}

// TestBadNewVersions points champion at a version whose model.onnx is
// corrupt, then at one whose download is truncated: v1 keeps serving, with
// the error visible in /admin/models, and mlgate gives up on the bad
// version after max_attempts until the alias moves on.
func TestBadNewVersions(t *testing.T) {
	fake := fakemlflow.New(t)
	cfg := testConfig(t, fake.URL(), championRoute)
	cfg.MaxAttempts = 2
	mg := startApp(t, cfg)
	url := mg.url + "/invocations"

	corrupt := fake.Files("churn-gbm", "1")
	corrupt["model.onnx"] = []byte("not an onnx protobuf at all")
	v5 := fake.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: corrupt, RunID: "cf2941b1111242ff806c0b75daaf749d"})
	truncated := fake.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: fake.Files("churn-gbm", "2")})
	fake.TruncateFile("churn-gbm", truncated, "model.onnx")

	load := runLoad(t, url, 4)
	for _, bad := range []struct{ version, mention string }{{v5, "model.onnx"}, {truncated, "model.onnx"}} {
		fake.SetAlias("churn-gbm", "champion", bad.version)
		waitFor(t, "mlgate to give up on version "+bad.version, func() bool {
			tg := target(t, adminModels(t, mg.adminURL), "churn")
			return tg.Follow != nil && tg.Follow.GaveUp && tg.Follow.PendingVersion == bad.version
		})
		tg := target(t, adminModels(t, mg.adminURL), "churn")
		if tg.Serving == nil || tg.Serving.Version != "1" {
			t.Errorf("version %s: serving %+v; want v1 still", bad.version, tg.Serving)
		}
		if !strings.Contains(tg.Follow.LastError, bad.mention) || tg.Follow.PendingFailures != cfg.MaxAttempts {
			t.Errorf("version %s: registry status %+v; want the error naming %s after %d attempts", bad.version, tg.Follow, bad.mention, cfg.MaxAttempts)
		}
		if v := servedVersion(t, url); v != "1" {
			t.Errorf("while version %s is bad, X-Model-Version %s; want 1", bad.version, v)
		}
	}
	fake.SetAlias("churn-gbm", "champion", "2")
	waitFor(t, "the good v2 to serve", func() bool { return servedVersion(t, url) == "2" })
	load.check(t)
	tg := target(t, adminModels(t, mg.adminURL), "churn")
	if tg.Follow.LastError != "" || tg.Follow.GaveUp {
		t.Errorf("after a good version: %+v; want the error cleared", tg.Follow)
	}
}

// TestRegistryOutage takes the registry down under load and brings it
// back: no request fails, the reported staleness grows while it is down and
// resets once it answers again.
func TestRegistryOutage(t *testing.T) {
	fake := fakemlflow.New(t)
	cfg := testConfig(t, fake.URL(), championRoute)
	mg := startApp(t, cfg)
	url := mg.url + "/invocations"
	load := runLoad(t, url, 8)

	for _, mode := range []fakemlflow.DownMode{fakemlflow.Unavailable, fakemlflow.Refuse, fakemlflow.Hang} {
		fake.SetDown(mode)
		var first float64
		waitFor(t, "staleness to rise", func() bool {
			f := target(t, adminModels(t, mg.adminURL), "churn").Follow
			if first == 0 {
				first = f.StalenessSeconds
			}
			return f.Stale && f.LastError != "" && f.StalenessSeconds > first+0.3
		})
		down := target(t, adminModels(t, mg.adminURL), "churn").Follow
		fake.SetUp()
		waitFor(t, "staleness to reset", func() bool {
			f := target(t, adminModels(t, mg.adminURL), "churn").Follow
			return !f.Stale && f.StalenessSeconds < down.StalenessSeconds
		})
		t.Logf("registry %v: staleness reached %.2fs (%s), then reset", mode, down.StalenessSeconds, down.LastError)
	}
	load.check(t)
	t.Logf("%d requests, none failed", load.total.Load())
}

// TestStartWithRegistryDown starts mlgate once to warm the cache, then
// again with the registry unreachable: it serves the cached version and
// says so. With an empty cache it fails fast.
func TestStartWithRegistryDown(t *testing.T) {
	fake := fakemlflow.New(t)
	cfg := testConfig(t, fake.URL(), championRoute)
	first := startApp(t, cfg)
	if v := servedVersion(t, first.url+"/invocations"); v != "1" {
		t.Fatalf("first start serves %s", v)
	}
	first.stop()

	fake.SetDown(fakemlflow.Refuse)
	second := startApp(t, cfg)
	if r := postJSON(t, second.url+"/invocations", oneRow); r.status != 200 || string(r.body) != bodyOf["1"] {
		t.Fatalf("offline start: %d %s", r.status, r.body)
	}
	f := target(t, adminModels(t, second.adminURL), "churn").Follow
	if !f.FromCache || !f.Stale || f.LastError == "" {
		t.Errorf("offline start status %+v; want from_cache, stale and the registry error", f)
	}
	fake.SetUp()
	waitFor(t, "the registry to be seen again", func() bool {
		f := target(t, adminModels(t, second.adminURL), "churn").Follow
		return !f.FromCache && !f.Stale
	})
	second.stop()

	fake.SetDown(fakemlflow.Refuse)
	cold := cfg
	cold.CacheDir = t.TempDir()
	a, err := newApp(cold, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	err = a.watchAll(t.Context())
	a.close()
	if err == nil || !strings.Contains(err.Error(), "no cached version") {
		t.Errorf("cold start with the registry down: %v; want a failure saying there is no cached version", err)
	}
}

// TestWebhookSecurity sends deliveries that must be refused, through HTTP.
func TestWebhookSecurity(t *testing.T) {
	const secret = "whsec-test"
	fake := fakemlflow.New(t)
	cfg := testConfig(t, fake.URL(), championRoute)
	cfg.WebhookSecret = secret
	mg := startApp(t, cfg)
	hook := mg.url + "/webhooks/mlflow"
	data := fakemlflow.Object{{Key: "name", Value: "churn-gbm"}, {Key: "alias", Value: "champion"}, {Key: "version", Value: "2"}}
	send := func(d fakemlflow.Delivery) int {
		req, err := d.Request(t.Context(), hook)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	valid := fakemlflow.NewDelivery(secret, "model_version_alias", "created", data, time.Now())
	badSig := fakemlflow.NewDelivery("wrong", "model_version_alias", "created", data, time.Now())
	stale := fakemlflow.NewDelivery(secret, "model_version_alias", "created", data, time.Now().Add(-10*time.Minute))
	unsigned := fakemlflow.NewDelivery("", "model_version_alias", "created", data, time.Now())
	tests := []struct {
		name string
		d    fakemlflow.Delivery
		want int
	}{
		{"valid", valid, 200},
		{"replayed delivery id", valid, 409},
		{"bad signature", badSig, 401},
		{"stale timestamp", stale, 401},
		{"missing signature", unsigned, 401},
	}
	for _, tt := range tests {
		if got := send(tt.d); got != tt.want {
			t.Errorf("%s: status %d; want %d", tt.name, got, tt.want)
		}
	}

	open := testConfig(t, fake.URL(), championRoute) // no secret configured
	mg2 := startApp(t, open)
	req, _ := fakemlflow.NewDelivery("", "model_version_alias", "created", data, time.Now()).Request(t.Context(), mg2.url+"/webhooks/mlflow")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(body), "secret") {
		t.Errorf("without a secret: %d %s; want 404 saying to configure a secret", resp.StatusCode, body)
	}
}

// TestNoLeaksAfterFlips flips the alias 200 times with no room in the
// loaded-model cache: afterwards only the pinned version's session is
// alive (goleak in TestMain checks goroutines). RSS growth is logged.
func TestNoLeaksAfterFlips(t *testing.T) {
	fake := fakemlflow.New(t)
	cfg := testConfig(t, fake.URL(), championRoute)
	cfg.ModelCacheBytes = 0
	cfg.PollInterval = 10 * time.Millisecond
	before := infer.LiveSessions()
	rssBefore := rss(t)
	mg := startApp(t, cfg)
	url := mg.url + "/invocations"
	load := runLoad(t, url, 4)
	for i := range 200 {
		v := []string{"2", "1"}[i%2]
		fake.SetAlias("churn-gbm", "champion", v)
		waitFor(t, "version "+v, func() bool { return servedVersion(t, url) == v })
	}
	load.check(t)
	waitFor(t, "retired sessions to be destroyed", func() bool { return infer.LiveSessions() == before+1 })
	t.Logf("after 200 flips: %d live sessions (1 pinned); RSS %d KiB -> %d KiB (%+d KiB); %d requests",
		infer.LiveSessions()-before, rssBefore, rss(t), rss(t)-rssBefore, load.total.Load())
	mg.stop()
	if got := infer.LiveSessions(); got != before {
		t.Errorf("after stop: %d live sessions; want %d", got, before)
	}
}

// rss returns the process's resident set size in KiB.
func rss(t *testing.T) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
