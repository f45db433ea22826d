package main

import (
	"strings"
	"testing"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/serve"
)

// claim is what mlgate should say at one moment of TestNeverClaimWhatIsNotTrue:
// the version answering, and why it is not the one the registry names
// (status "" when it is) with the version the registry names.
type claim struct {
	serving, status, registryVersion string
}

// checkClaim checks that a response, /admin/models and /metrics all say c.
func checkClaim(t *testing.T, mg *running, what string, c claim) {
	t.Helper()
	r := postJSON(t, mg.url+"/invocations", oneRow)
	if r.status != 200 || r.header.Get(serve.HeaderModelVersion) != c.serving || r.header.Get(serve.HeaderModelAlias) != "champion" {
		t.Errorf("%s: %d, X-Model-Version %q, X-Model-Alias %q; want 200 from version %s of champion",
			what, r.status, r.header.Get(serve.HeaderModelVersion), r.header.Get(serve.HeaderModelAlias), c.serving)
	}
	for h, want := range map[string]string{serve.HeaderServingStatus: c.status, serve.HeaderRegistryVersion: c.registryVersion} {
		if _, present := r.header[h]; r.header.Get(h) != want || (want == "" && present) {
			t.Errorf("%s: %s %q; want %q", what, h, r.header.Get(h), want)
		}
	}
	status, registry := c.status, c.registryVersion
	if status == "" {
		status, registry = serve.ServingCurrent, c.serving
	}
	tg := target(t, adminModels(t, mg.adminURL), "churn")
	// Stale is also true while a check is in progress, so only a status
	// implies it.
	if tg.ServingStatus != status || tg.RegistryVersion != registry || tg.Follow == nil ||
		(c.status != "" && (!tg.Follow.Stale || tg.Reason == "")) {
		t.Errorf("%s: /admin/models serving_status %q, registry_version %q, reason %q, registry %+v; want %s, %q, stale when %q",
			what, tg.ServingStatus, tg.RegistryVersion, tg.Reason, tg.Follow, status, registry, c.status)
	}
	fams := scrapeMetrics(t, mg.url)
	for _, s := range []string{serve.ServingCurrent, "loading", "load-failed", "gave-up", "missing", "registry-unreachable"} {
		want := 0.0
		if s == status {
			want = 1
		}
		if got := metricValue(t, fams, "mlgate_target_serving_status", map[string]string{"route": "churn", "target": "champion", "status": s}); got != want {
			t.Errorf("%s: mlgate_target_serving_status{status=%q} = %v; want %v", what, s, got, want)
		}
	}
}

// TestNeverClaimWhatIsNotTrue moves champion through every way of not
// serving what the registry names, under load: to a version whose download
// is held (loading), to one that fails to load until mlgate gives up, away
// (alias deleted), and takes the registry down. At each step the responses,
// /admin/models and /metrics say which version answers, which one the
// registry names and why they differ; the logs say it once per change; no
// request fails; and recovery removes the headers. A change of status
// loads no model.
func TestNeverClaimWhatIsNotTrue(t *testing.T) {
	fake := fakemlflow.New(t)
	cfg := testConfig(t, fake.URL(), championRoute)
	cfg.MaxAttempts = 2
	mg := startApp(t, cfg)
	load := runLoad(t, mg.url+"/invocations", 4)
	adminStatus := func() string { return target(t, adminModels(t, mg.adminURL), "churn").ServingStatus }

	checkClaim(t, mg, "at start", claim{serving: "1"})

	held, release := fake.HoldFile("churn-gbm", "2", "model.onnx")
	fake.SetAlias("churn-gbm", "champion", "2")
	<-held
	checkClaim(t, mg, "while version 2 downloads", claim{serving: "1", status: "loading", registryVersion: "2"})
	release()
	waitFor(t, "version 2 to serve", func() bool {
		return servedVersion(t, mg.url+"/invocations") == "2" && adminStatus() == serve.ServingCurrent
	})
	checkClaim(t, mg, "once version 2 serves", claim{serving: "2"})

	corrupt := fake.Files("churn-gbm", "1")
	corrupt["model.onnx"] = []byte("not an onnx protobuf")
	bad := fake.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: corrupt})
	fake.SetAlias("churn-gbm", "champion", bad)
	waitFor(t, "mlgate to give up on version "+bad, func() bool { return adminStatus() == "gave-up" })
	checkClaim(t, mg, "after giving up", claim{serving: "2", status: "gave-up", registryVersion: bad})

	fake.DeleteAlias("churn-gbm", "champion")
	waitFor(t, "the alias to be missing", func() bool { return adminStatus() == "missing" })
	checkClaim(t, mg, "with the alias deleted", claim{serving: "2", status: "missing"})

	fake.SetAlias("churn-gbm", "champion", "2")
	waitFor(t, "recovery", func() bool { return adminStatus() == serve.ServingCurrent })
	checkClaim(t, mg, "with the alias back", claim{serving: "2"})

	fake.SetDown(fakemlflow.Refuse)
	waitFor(t, "the registry to be unreachable", func() bool { return adminStatus() == "registry-unreachable" })
	checkClaim(t, mg, "with the registry down", claim{serving: "2", status: "registry-unreachable"})
	fake.SetUp()
	waitFor(t, "the registry back", func() bool { return adminStatus() == serve.ServingCurrent })
	checkClaim(t, mg, "with the registry back", claim{serving: "2"})

	load.check(t)
	logs := mg.logs()
	lines := func(msg string, with ...string) int {
		n := 0
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, `msg="`+msg+`"`) && containsAll(l, with) {
				n++
			}
		}
		return n
	}
	const differs, again = "model URI does not serve what the registry names", "model URI serves what the registry names again"
	for _, tt := range []struct {
		with []string
		want int
	}{
		{[]string{"serving_status=loading", "registry_version=2 "}, 1},
		{[]string{"serving_status=loading", "registry_version=" + bad + " "}, 1},
		{[]string{"serving_status=load-failed", "registry_version=" + bad + " "}, 1},
		{[]string{"serving_status=gave-up", "registry_version=" + bad + " "}, 1},
		{[]string{"serving_status=missing"}, 1},
		{[]string{"serving_status=registry-unreachable"}, 1},
	} {
		if got := lines(differs, tt.with...); got != tt.want {
			t.Errorf("%d log lines %q with %q; want %d", got, differs, tt.with, tt.want)
		}
	}
	if got := lines(again); got != 3 {
		t.Errorf("%d log lines %q; want 3 (after loading, after missing, after the outage)", got, again)
	}
	if got := lines("model version loaded"); got != 2 {
		t.Errorf("%d model loads; want 2 (versions 1 and 2): a change of status must load nothing", got)
	}
}

// TestStartWithABadVersion starts mlgate with challenger naming a version
// whose model.onnx does not load: the process starts, churn serves, the
// challenger route answers 503 saying why with the serving status headers,
// /ready turns 200 once mlgate has given up on the version, and when the
// alias moves to a good version the route serves it.
func TestStartWithABadVersion(t *testing.T) {
	fake := fakemlflow.New(t)
	corrupt := fake.Files("churn-gbm", "1")
	corrupt["model.onnx"] = []byte("not an onnx protobuf")
	bad := fake.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: corrupt})
	fake.SetAlias("churn-gbm", "challenger", bad)
	cfg := testConfig(t, fake.URL(), championRoute, RouteConfig{Name: "next", Model: "models:/churn-gbm@challenger"})
	cfg.MaxAttempts = 2
	mg := startApp(t, cfg) // returns once /ready is 200: mlgate gave up on the version

	if r := postJSON(t, mg.url+"/routes/churn/invocations", oneRow); r.status != 200 || string(r.body) != bodyOf["1"] {
		t.Errorf("churn: %d %s; want version 1's answer", r.status, r.body)
	}
	r := postJSON(t, mg.url+"/routes/next/invocations", oneRow)
	if r.status != 503 || !strings.Contains(string(r.body), "has no version serving (gave-up, version "+bad+")") ||
		r.header.Get(serve.HeaderServingStatus) != "gave-up" || r.header.Get(serve.HeaderRegistryVersion) != bad {
		t.Errorf("next: %d %s %v; want 503 naming gave-up and version %s", r.status, r.body, r.header, bad)
	}
	tg := target(t, adminModels(t, mg.adminURL), "next")
	if tg.Serving != nil || tg.ServingStatus != "gave-up" || tg.RegistryVersion != bad || !strings.Contains(tg.Reason, "model.onnx") ||
		tg.Follow == nil || !tg.Follow.Stale || tg.Follow.PendingFailures != 2 {
		t.Errorf("/admin/models next: %+v, registry %+v; want nothing serving, gave-up on %s with the load error", tg, tg.Follow, bad)
	}
	if got := metricValue(t, scrapeMetrics(t, mg.url), "mlgate_target_serving_status",
		map[string]string{"route": "next", "target": "challenger", "status": "gave-up"}); got != 1 {
		t.Errorf("mlgate_target_serving_status{route=next,status=gave-up} = %v; want 1", got)
	}
	if logs := mg.logs(); !strings.Contains(logs, `level=ERROR msg="the version the registry names failed at start`) {
		t.Errorf("no error line for the failed start in:\n%s", logs)
	}

	fake.SetAlias("churn-gbm", "challenger", "2")
	waitFor(t, "the challenger route to serve version 2", func() bool {
		return servedVersion(t, mg.url+"/routes/next/invocations") == "2"
	})
	r = postJSON(t, mg.url+"/routes/next/invocations", oneRow)
	if r.status != 200 || r.header.Get(serve.HeaderServingStatus) != "" || string(r.body) != bodyOf["2"] {
		t.Errorf("next after the move: %d %s %v; want version 2's answer without a serving status", r.status, r.body, r.header)
	}
}
