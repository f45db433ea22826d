package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/telemetry"
)

func TestEventsRing(t *testing.T) {
	ev := newEvents(3)
	if got, next := ev.since(0, 10); len(got) != 0 || next != 0 {
		t.Fatalf("empty ring: %v, next %d", got, next)
	}
	for i := 1; i <= 5; i++ {
		ev.add(Event{Kind: EventSwap, Version: fmt.Sprint(i)})
	}
	seqs := func(es []Event) string {
		var parts []string
		for _, e := range es {
			parts = append(parts, fmt.Sprintf("%d:v%s", e.Seq, e.Version))
		}
		return strings.Join(parts, " ")
	}
	for _, c := range []struct {
		since int64
		max   int
		want  string
	}{
		{0, 10, "3:v3 4:v4 5:v5"}, // the two oldest fell out of the ring
		{3, 10, "4:v4 5:v5"},
		{5, 10, ""},
		{900, 10, ""}, // a seq from a previous process
		{0, 2, "4:v4 5:v5"},
	} {
		got, next := ev.since(c.since, c.max)
		if seqs(got) != c.want || next != 5 {
			t.Errorf("since(%d, %d) = %q, next %d; want %q, 5", c.since, c.max, seqs(got), next, c.want)
		}
	}
	for _, e := range func() []Event { es, _ := ev.since(0, 10); return es }() {
		if e.At.IsZero() {
			t.Errorf("event %d has no time", e.Seq)
		}
	}
	none := newEvents(0)
	none.add(Event{Kind: EventSwap})
	if got, next := none.since(0, 10); len(got) != 0 || next != 0 {
		t.Errorf("a ring of 0 keeps %v, next %d; want nothing", got, next)
	}
}

func TestTrackingUI(t *testing.T) {
	for in, want := range map[string]string{
		"http://mlflow:5000":                             "http://mlflow:5000",
		"https://user:secret@mlflow.example.com/prefix/": "https://mlflow.example.com/prefix",
		"http://mlflow:5000/?token=x#frag":               "http://mlflow:5000",
		"sqlite:///examples/registry/mlflow.db":          "",
		"databricks":                                     "",
		"file:///tmp/mlruns":                             "",
		"http://":                                        "",
	} {
		if got := TrackingUI(in); got != want {
			t.Errorf("TrackingUI(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestDecadeOf(t *testing.T) {
	for diff, want := range map[float64]int{
		0: 0, 5e-9: 0, 1e-8: 1, 3e-6: 3, 0.05: 7, 0.5: 8, 1: 9, 42: 9, math.Inf(1): 9, math.NaN(): 0,
	} {
		if got := decadeOf(diff); got != want {
			t.Errorf("decadeOf(%v) = %d; want %d", diff, got, want)
		}
	}
}

// TestStatusEndpoints: /admin/status is JSON behind the admin token and
// refuses a bad since; the page's files are served with a policy that
// lets them load nothing from anywhere else, and only on the admin
// listener.
func TestStatusEndpoints(t *testing.T) {
	ns := startNet(t, Config{Operator: &countingOperator{}, AdminToken: adminToken, Version: "v-test"})
	main, admin := "http://"+ns.addr, "http://"+ns.adminAddr
	if r := do(t, "GET", admin+"/admin/status", ""); r.status != 401 {
		t.Errorf("GET /admin/status without the token: %d; want 401", r.status)
	}
	r := do(t, "GET", admin+"/admin/status?since=0", adminToken)
	var feed StatusFeed
	if r.status != 200 || json.Unmarshal(r.body, &feed) != nil || feed.Version != "v-test" ||
		r.header.Get("Content-Type") != "application/json" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /admin/status: %d %s %q; want the feed, uncached", r.status, r.body, r.header.Get("Content-Type"))
	}
	for _, q := range []string{"?since=-1", "?since=x", "?since=99999999999999999999"} {
		r := do(t, "GET", admin+"/admin/status"+q, adminToken)
		if code, msg := mlflowError(t, r.body); r.status != 400 || code != codeInvalidParameterValue || !strings.Contains(msg, "since") {
			t.Errorf("GET /admin/status%s: %d %s %q; want 400 naming since", q, r.status, code, msg)
		}
	}
	if r := do(t, "POST", admin+"/admin/status", adminToken); r.status != 405 {
		t.Errorf("POST /admin/status: %d; want 405", r.status)
	}
	for path, ctype := range map[string]string{
		"/status": "text/html; charset=utf-8", "/status/status.js": "text/javascript; charset=utf-8",
		"/status/status.css": "text/css; charset=utf-8",
	} {
		r := do(t, "GET", admin+path, "")
		if r.status != 200 || r.header.Get("Content-Type") != ctype || len(r.body) == 0 {
			t.Errorf("GET %s: %d %q; want 200 %s", path, r.status, r.header.Get("Content-Type"), ctype)
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q; want nothing but the page's own origin", path, csp)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: headers %v", path, r.header)
		}
		if path == "/status" {
			continue // redirected: below
		}
		if r := do(t, "GET", main+path, ""); r.status != 404 || !strings.Contains(string(r.body), "admin listener") {
			t.Errorf("GET %s on the main listener: %d %s; want 404 pointing at the admin listener", path, r.status, r.body)
		}
	}
	// Both listeners on loopback: the main listener's /status sends the
	// browser to the admin listener's.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(main + "/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != admin+"/status" {
		t.Errorf("GET /status on the main listener: %d Location %q; want 307 to %s/status", resp.StatusCode, resp.Header.Get("Location"), admin)
	}
	if r := do(t, "GET", main+"/status", ""); r.status != 200 || !strings.Contains(string(r.body), "<html") {
		t.Errorf("GET /status on the main listener, redirect followed: %d; want the page", r.status)
	}
	page := string(do(t, "GET", admin+"/status", "").body)
	for _, external := range []string{"http://", "https://", "//cdn", "@import"} {
		if strings.Contains(page, external) {
			t.Errorf("the page refers to %q: it must load nothing from elsewhere", external)
		}
	}
}

// TestFeedWindows: the feed gives each target its requests, split and
// latency per window, and the requests refused before a target, from the
// recorders the serving state publishes.
func TestFeedWindows(t *testing.T) {
	tel, err := telemetry.New(context.Background(), telemetry.Config{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	ins, err := telemetry.NewInstruments(tel.MeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Instruments: ins, TrackingUI: "http://mlflow:5000"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1))
	const challenger = "models:/churn-gbm@challenger"
	prov := v1Provenance
	prov.ExperimentID = "7"
	publish(t, s, []RouteSpec{{Name: "churn", Targets: []TargetSpec{
		{URI: champion, Alias: "champion", Weight: 3}, {URI: challenger, Alias: "challenger", Weight: 1}}}},
		map[string]Deployment{champion: {Model: m, Provenance: prov}, challenger: {Model: m, Provenance: prov}})
	var req fasthttp.Request
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	send := func(alias string, n int) {
		for range n {
			setRequest(ctx, "/invocations", "application/json", benchRow)
			ctx.Request.Header.Set("X-Model-Alias", alias)
			ctx.Response.Reset()
			s.Handler(ctx)
		}
	}
	send("champion", 6)
	send("challenger", 2)
	send("nobody", 1)
	f := s.Feed(0)
	if len(f.Routes) != 1 || len(f.WindowSeconds) != 3 {
		t.Fatalf("feed %+v", f)
	}
	r := f.Routes[0]
	want := map[string][2]float64{"champion": {6, 0.75}, "challenger": {2, 0.25}}
	for _, tg := range r.Targets {
		for i, w := range tg.Windows {
			if got := [2]float64{float64(w.Requests), w.Share}; got != want[tg.Alias] || w.ByClass["2xx"] != int64(want[tg.Alias][0]) || w.P50Ms <= 0 {
				t.Errorf("%s window %d: %+v; want %v requests and share, all 2xx, a latency", tg.Alias, i, w, want[tg.Alias])
			}
		}
		if tg.ConfiguredShare != map[string]float64{"champion": 0.75, "challenger": 0.25}[tg.Alias] {
			t.Errorf("%s configured share %v", tg.Alias, tg.ConfiguredShare)
		}
		if tg.Serving == nil || tg.Serving.RunURL != "http://mlflow:5000/#/experiments/7/runs/"+prov.RunID {
			t.Errorf("%s run link %+v", tg.Alias, tg.Serving)
		}
	}
	if w := r.Refused[0]; w.Requests != 1 || w.ByClass["4xx"] != 1 {
		t.Errorf("refused %+v; want the unknown alias", w)
	}
}

// BenchmarkStatusFeed is one read of the status page's feed: the feed of a
// canary route (two targets, one with a retired version) and a shadowed
// route after some traffic, encoded as JSON, as GET /admin/status sends it.
func BenchmarkStatusFeed(b *testing.B) {
	tel, err := telemetry.New(context.Background(), telemetry.Config{Getenv: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	ins, err := telemetry.NewInstruments(tel.MeterProvider())
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{Instruments: ins, TrackingUI: "http://mlflow:5000"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := loadModel(b, testutil.RecordedModel(b, "churn-gbm", 1))
	const challenger, shadowed = "models:/churn-gbm@challenger", "models:/churn-gbm/1"
	specs := []RouteSpec{
		{Name: "churn", Targets: []TargetSpec{{URI: champion, Alias: "champion", Weight: 9}, {URI: challenger, Alias: "challenger", Weight: 1}}},
		{Name: "gbm", Targets: []TargetSpec{{URI: shadowed}}, Shadow: &ShadowSpec{URI: challenger, Alias: "challenger", Sample: 1}},
	}
	v2 := v1Provenance
	v2.Version = "2"
	publish(b, s, specs, map[string]Deployment{champion: {Model: m, Provenance: v1Provenance},
		challenger: {Model: m, Provenance: v1Provenance}, shadowed: {Model: m, Provenance: v1Provenance}})
	var req fasthttp.Request
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	traffic := func(path string, n int) {
		for range n {
			setRequest(ctx, path, "application/json", benchRow)
			ctx.Response.Reset()
			s.Handler(ctx)
		}
	}
	traffic("/routes/churn/invocations", 500)
	publish(b, s, specs, map[string]Deployment{champion: {Model: m, Provenance: v2},
		challenger: {Model: m, Provenance: v1Provenance}, shadowed: {Model: m, Provenance: v1Provenance}})
	traffic("/routes/churn/invocations", 500)
	traffic("/routes/gbm/invocations", 200)
	for range 30 {
		ins.Tick(time.Now())
	}
	var size int
	b.ReportAllocs()
	for b.Loop() {
		body, err := json.Marshal(s.Feed(0))
		if err != nil {
			b.Fatal(err)
		}
		size = len(body)
	}
	b.ReportMetric(float64(size), "bytes/feed")
}
