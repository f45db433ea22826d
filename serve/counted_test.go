package serve

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/telemetry"
)

// TestEveryRequestIsCounted sends one request of each kind that is
// answered before (or without) a model — wrong method, unknown route,
// unknown X-Model-Alias, a target not loaded yet, admission 429s, an
// unknown path, a health check — plus one served request, and reads
// /metrics: every one of them is in http_server_request_duration_seconds,
// every scoring one in mlgate_requests_total, and nothing the client chose
// (the route name, the alias, the path) became a label.
func TestEveryRequestIsCounted(t *testing.T) {
	tel, err := telemetry.New(context.Background(), telemetry.Config{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	ins, err := telemetry.NewInstruments(tel.MeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Instruments: ins, MetricsHandler: tel.MetricsHandler(),
		MaxInflight: 1, MaxQueue: 1, QueueTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1))
	gated := gatedModel{Model: m, started: make(chan struct{}, 4), release: make(chan struct{})}
	const challenger = "models:/churn-gbm@challenger"
	publish(t, s, []RouteSpec{{Name: "churn", Targets: []TargetSpec{
		{URI: champion, Alias: "champion", Weight: 1}, {URI: challenger, Alias: "challenger", Weight: 0}}}},
		served(map[string]Model{champion: gated}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		s.Close()
	})
	base := "http://" + ln.Addr().String()

	do := func(method, path string, header ...string) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(benchRow))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path string
		header       []string
		want         int
	}{
		{"GET", "/invocations", nil, 405},
		{"POST", "/routes/no-such-route/invocations", nil, 404},
		{"POST", "/invocations", []string{"X-Model-Alias", "no-such-alias"}, 400},
		{"POST", "/invocations", []string{"X-Model-Alias", "challenger"}, 503},
		{"GET", "/no-such-path", nil, 404},
		{"GET", "/ping", nil, 200},
		{"POST", "/v2/models/no-such-model/infer", nil, 404},
		{"GET", "/v2/models/churn/infer", nil, 405},
		{"GET", "/v2/models/no-such-model/ready", nil, 404},
	} {
		if got := do(c.method, c.path, c.header...); got != c.want {
			t.Fatalf("%s %s %v: status %d; want %d", c.method, c.path, c.header, got, c.want)
		}
	}
	// One request held by the model, two refused by admission.
	held := make(chan int, 1)
	go func() { held <- do("POST", "/invocations") }()
	<-gated.started
	for range 2 {
		if got := do("POST", "/invocations"); got != 429 {
			t.Fatalf("while one request is held: status %d; want 429", got)
		}
	}
	close(gated.release)
	if got := <-held; got != 200 {
		t.Fatalf("held request: status %d; want 200", got)
	}
	const sent = 12

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, chosen := range []string{"no-such-route", "no-such-alias", "no-such-path", "no-such-model"} {
		if strings.Contains(string(text), chosen) {
			t.Errorf("/metrics carries %q, which the client chose", chosen)
		}
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(text)))
	if err != nil {
		t.Fatal(err)
	}
	key := func(m *dto.Metric, names ...string) string {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		var parts []string
		for _, n := range names {
			parts = append(parts, n+"="+got[n])
		}
		return strings.Join(parts, " ")
	}
	requests := map[string]float64{}
	for _, m := range fams["mlgate_requests_total"].GetMetric() {
		requests[key(m, "route", "target", "model_version", "status_class", "protocol")] += m.GetCounter().GetValue()
	}
	wantRequests := map[string]float64{
		"route=churn target= model_version= status_class=4xx protocol=mlflow":           4, // 405, 400, two 429s
		"route=(unknown) target= model_version= status_class=4xx protocol=mlflow":       1,
		"route=churn target=challenger model_version= status_class=5xx protocol=mlflow": 1,
		"route=churn target=champion model_version=1 status_class=2xx protocol=mlflow":  1,
		"route=churn target= model_version= status_class=4xx protocol=v2-rest":          1, // 405
		"route=(unknown) target= model_version= status_class=4xx protocol=v2-rest":      1,
	}
	for k, want := range wantRequests {
		if requests[k] != want {
			t.Errorf("mlgate_requests_total{%s} = %v; want %v", k, requests[k], want)
		}
	}
	if len(requests) != len(wantRequests) {
		t.Errorf("mlgate_requests_total series %v; want %v", requests, wantRequests)
	}

	durations := map[string]uint64{}
	var total uint64
	for _, m := range fams["http_server_request_duration_seconds"].GetMetric() {
		n := m.GetHistogram().GetSampleCount()
		durations[key(m, "http_route", "http_request_method", "http_response_status_code")] += n
		total += n
	}
	if total != sent {
		t.Errorf("http_server_request_duration_seconds counts %d requests; want all %d: %v", total, sent, durations)
	}
	for _, k := range []string{
		"http_route=/routes/churn/invocations http_request_method=GET http_response_status_code=405",
		"http_route=/routes/{route}/invocations http_request_method=POST http_response_status_code=404",
		"http_route=/routes/churn/invocations http_request_method=POST http_response_status_code=429",
		"http_route= http_request_method=GET http_response_status_code=404",
		"http_route=/ping http_request_method=GET http_response_status_code=200",
		"http_route=/v2/models/{model}/infer http_request_method=POST http_response_status_code=404",
		"http_route=/v2/models/churn/infer http_request_method=GET http_response_status_code=405",
		"http_route=/v2/models/{model}/ready http_request_method=GET http_response_status_code=404",
	} {
		if durations[k] == 0 {
			t.Errorf("http_server_request_duration_seconds has no %s; has %v", k, durations)
		}
	}
}
