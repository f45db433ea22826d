package main

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/trace"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/internal/testutil/otlpreceiver"
)

// TestTraceOfARequest exports traces to an in-test OTLP receiver and checks
// one scoring request's trace: a server span continuing the caller's
// traceparent, children validate and infer, the model's provenance as
// attributes and no request data; plus the background spans of the start
// (update, resolve, download, deploy, load, warm-up) and traceparent on the
// calls to MLflow.
func TestTraceOfARequest(t *testing.T) {
	recv := otlpreceiver.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.Endpoint())
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	t.Setenv("OTEL_SERVICE_NAME", "mlgate-test")
	fake := fakemlflow.New(t)
	mg := startApp(t, testConfig(t, fake.URL(), championRoute))

	const parentTrace, parentSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest(http.MethodPost, mg.url+"/invocations", strings.NewReader(oneRow))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+parentTrace+"-"+parentSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if tp := resp.Header.Get("traceparent"); !strings.HasPrefix(tp, "00-"+parentTrace+"-") {
		t.Errorf("response traceparent %q; want the request's trace %s", tp, parentTrace)
	}

	spans := recv.WaitFor(t, func(ss []otlpreceiver.Span) bool {
		n := 0
		for _, s := range ss {
			if s.TraceID.String() == parentTrace {
				n++
			}
		}
		return n >= 3
	}, 20*time.Second)
	byName := map[string]otlpreceiver.Span{}
	for _, s := range spans {
		if s.TraceID.String() == parentTrace {
			byName[s.Name] = s
		}
	}
	server, ok := byName["POST /routes/{route}/invocations"]
	if !ok {
		t.Fatalf("no server span in the request's trace; spans: %v", names(spans))
	}
	if server.Kind != trace.SpanKindServer || server.ParentSpanID.String() != parentSpan {
		t.Errorf("server span kind %v parent %s; want server, parent %s", server.Kind, server.ParentSpanID, parentSpan)
	}
	want := map[string]any{"route": "churn", "model.name": "churn-gbm", "model.version": "1",
		"model.alias": "champion", "mlflow.run_id": "cf2941b1111242ff806c0b75daaf749d"}
	for k, v := range want {
		if got := fmt.Sprint(server.Attributes[k]); got != fmt.Sprint(v) {
			t.Errorf("server span %s = %v; want %v", k, server.Attributes[k], v)
		}
	}
	for _, child := range []string{"validate", "infer"} {
		c, ok := byName[child]
		if !ok || c.ParentSpanID != server.SpanID {
			t.Errorf("span %s: %+v; want a child of the server span", child, c)
		}
	}
	for _, s := range spans {
		for k, v := range s.Attributes {
			if strings.Contains(fmt.Sprint(v), "1306.52") || strings.Contains(fmt.Sprint(v), "dataframe_split") {
				t.Errorf("span %s attribute %s carries request data: %v", s.Name, k, v)
			}
		}
		if got := fmt.Sprint(s.Resource["service.name"]); got != "mlgate-test" {
			t.Errorf("span %s resource service.name %q; want mlgate-test (OTEL_SERVICE_NAME)", s.Name, got)
		}
	}

	background := map[string]bool{}
	for _, s := range spans {
		background[s.Name] = true
	}
	for _, name := range []string{"mlgate.update", "mlgate.resolve", "mlgate.download", "mlgate.deploy", "mlgate.load", "mlgate.warmup"} {
		if !background[name] {
			t.Errorf("no %s span; spans: %v", name, names(spans))
		}
	}
	traced := false
	for _, r := range fake.Requests() {
		if r.Header.Get("traceparent") != "" {
			traced = true
		}
	}
	if !traced {
		t.Error("no request to MLflow carried a traceparent")
	}
}

func names(spans []otlpreceiver.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

// scrapeMetrics reads GET /metrics and parses it with Prometheus's own
// text parser.
func scrapeMetrics(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// metricValue finds the sample of family name whose labels include want.
func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("%s has no series with %v", name, want)
	return 0
}

// TestMetricsAfterKnownRequests sends a known mix of requests and reads
// the counts back from /metrics.
func TestMetricsAfterKnownRequests(t *testing.T) {
	fake := fakemlflow.New(t)
	cfg := testConfig(t, fake.URL(), championRoute,
		RouteConfig{Name: "gbm", Model: "models:/churn-gbm/4", Shadow: &ShadowConfig{Model: "models:/churn-gbm/3", Sample: 1}})
	mg := startApp(t, cfg)
	waitFor(t, "the shadow model", func() bool { return adminModels(t, mg.adminURL).Routes[1].Shadow.Serving != nil })
	const ok, bad = 7, 3
	for range ok {
		if r := postJSON(t, mg.url+"/routes/churn/invocations", oneRow); r.status != 200 {
			t.Fatal(r.status)
		}
	}
	for range bad {
		if r := postJSON(t, mg.url+"/routes/churn/invocations", `{"dataframe_split": {"columns": ["tenure"], "data": [[1]]}}`); r.status != 400 {
			t.Fatal(r.status)
		}
	}
	gbm := namedInputs(shadowRows(2))
	for range 4 {
		postJSON(t, mg.url+"/routes/gbm/invocations", gbm)
	}
	waitFor(t, "shadow comparisons", func() bool { return adminModels(t, mg.adminURL).Routes[1].Shadow.Compared == 4 })
	fams := scrapeMetrics(t, mg.url)

	churn := map[string]string{"route": "churn", "target": "champion", "model_name": "churn-gbm", "model_version": "1"}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range m {
			out[a] = b
		}
		return out
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mlgate_requests_total", with(churn, "status_class", "2xx"), ok},
		{"mlgate_requests_total", with(churn, "status_class", "4xx"), bad},
		{"mlgate_inference_duration_seconds", map[string]string{"route": "churn", "model_version": "1"}, ok},
		{"http_server_request_duration_seconds", map[string]string{"http_route": "/routes/churn/invocations", "http_response_status_code": "200", "http_request_method": "POST"}, ok},
		{"http_server_request_duration_seconds", map[string]string{"http_route": "/routes/churn/invocations", "http_response_status_code": "400"}, bad},
		{"mlgate_model_versions_loaded", map[string]string{"state": "pinned"}, 3},
		{"mlgate_registry_stale", map[string]string{"uri": "models:/churn-gbm@champion"}, 0},
		{"mlgate_model_swaps_total", map[string]string{"uri": "models:/churn-gbm@champion"}, 0},
		{"mlgate_shadow_compared_total", map[string]string{"route": "gbm", "shadow": "models:/churn-gbm/3"}, 4},
		{"mlgate_shadow_sampled_total", map[string]string{"route": "gbm"}, 4},
	}
	for _, c := range checks {
		if got := metricValue(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v; want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, name := range []string{"mlgate_model_load_duration_seconds", "mlgate_onnxruntime_sessions", "mlgate_model_bytes",
		"mlgate_registry_staleness_seconds", "mlgate_shadow_disagreement_ratio", "http_server_active_requests",
		"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if got := metricValue(t, fams, "mlgate_shadow_disagreement_ratio", map[string]string{"route": "gbm", "output": "label"}); got <= 0 {
		t.Errorf("shadow label disagreement %v; want v3 and v4 to disagree", got)
	}
}

// TestRetiredVersionLeavesMetrics moves champion from version 1 to 2:
// once version 1 is retired (its serving state released), its
// mlgate_requests_total and mlgate_inference_duration_seconds series are
// gone from /metrics, so series do not pile up with every deploy.
func TestRetiredVersionLeavesMetrics(t *testing.T) {
	fake := fakemlflow.New(t)
	mg := startApp(t, testConfig(t, fake.URL(), championRoute))
	url := mg.url + "/invocations"
	if v := servedVersion(t, url); v != "1" {
		t.Fatalf("serving version %s; want 1", v)
	}
	has := func(fams map[string]*dto.MetricFamily, name, version string) bool {
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "model_version" && l.GetValue() == version {
					return true
				}
			}
		}
		return false
	}
	fams := scrapeMetrics(t, mg.url)
	if !has(fams, "mlgate_requests_total", "1") || !has(fams, "mlgate_inference_duration_seconds", "1") {
		t.Fatal("no series of version 1 while it serves")
	}
	fake.SetAlias("churn-gbm", "champion", "2")
	waitFor(t, "champion to serve version 2", func() bool { return servedVersion(t, url) == "2" })
	fams = scrapeMetrics(t, mg.url)
	for _, name := range []string{"mlgate_requests_total", "mlgate_inference_duration_seconds"} {
		if has(fams, name, "1") {
			t.Errorf("%s still has version 1's series after it was retired", name)
		}
		if !has(fams, name, "2") {
			t.Errorf("%s has no series of version 2, which serves", name)
		}
	}
}

// TestChecksThatChangeNothingAreNotTraced polls the registry every 50 ms
// with tracing on: the checks that found the version already serving
// export nothing, while the one that found the alias moved exports its
// whole trace (the registry call and the update under it).
func TestChecksThatChangeNothingAreNotTraced(t *testing.T) {
	recv := otlpreceiver.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.Endpoint())
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	fake := fakemlflow.New(t)
	mg := startApp(t, testConfig(t, fake.URL(), championRoute))
	waitFor(t, "20 registry checks", func() bool { return target(t, adminModels(t, mg.adminURL), "churn").Follow.Checks >= 20 })
	fake.SetAlias("churn-gbm", "champion", "2")
	spans := recv.WaitFor(t, func(ss []otlpreceiver.Span) bool {
		for _, s := range ss {
			if s.Name == "mlgate.check" && fmt.Sprint(s.Attributes["mlgate.check.outcome"]) == "moved" {
				return true
			}
		}
		return false
	}, 20*time.Second)
	checks := target(t, adminModels(t, mg.adminURL), "churn").Follow.Checks
	var exported []otlpreceiver.Span
	byID := map[trace.SpanID]otlpreceiver.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
		if s.Name == "mlgate.check" {
			exported = append(exported, s)
		}
	}
	for _, s := range exported {
		if fmt.Sprint(s.Attributes["mlgate.check.changed"]) != "true" {
			t.Errorf("a check that changed nothing was exported: %v", s.Attributes)
		}
	}
	t.Logf("%d checks, %d exported", checks, len(exported))
	for _, s := range spans {
		if s.Kind == trace.SpanKindClient && !s.ParentSpanID.IsValid() {
			t.Errorf("registry call %s is a trace of its own; want it under a check or an update", s.Name)
		}
		if s.Name == "mlgate.update" && fmt.Sprint(s.Attributes["mlgate.update.reason"]) == "moved" {
			if p, ok := byID[s.ParentSpanID]; !ok || p.Name != "mlgate.check" {
				t.Errorf("the update of the move is not under its check")
			}
		}
	}
}
