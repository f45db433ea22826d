package telemetry

import (
	"context"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// request is one recorded request of the recorder test.
type request struct {
	route, version string
	status         int
	n              int // how many
}

func TestRequestRecordersProduceExactSeries(t *testing.T) {
	tel := newTestTelemetry(t, nil)
	ins, err := NewInstruments(tel.MeterProvider())
	if err != nil {
		t.Fatalf("NewInstruments: %v", err)
	}
	// Two routes, each with version 1 (alias champion) and 2 (challenger),
	// answering 200, 400 and 503 a distinct number of times.
	recs := map[string]*RequestRecorder{}
	for _, route := range []string{"churn", "fraud"} {
		recs[route+"/1"] = ins.NewRequestRecorder(route, "champion", route+"-gbm", "1")
		recs[route+"/2"] = ins.NewRequestRecorder(route, "challenger", route+"-gbm", "2")
	}
	var reqs []request
	n := 1
	for _, route := range []string{"churn", "fraud"} {
		for _, version := range []string{"1", "2"} {
			for _, status := range []int{200, 400, 503} {
				reqs = append(reqs, request{route, version, status, n})
				n++
			}
		}
	}
	const (
		total     = 3 * time.Millisecond
		inference = 2 * time.Millisecond
	)
	ctx := context.Background()
	var all, inferred int
	for _, r := range reqs {
		rec := recs[r.route+"/"+r.version]
		for range r.n {
			inf := time.Duration(0) // a 400 never reaches the model
			if r.status != 400 {
				inf = inference
				inferred++
			}
			rec.Done(ctx, r.status, "POST", total, inf)
			all++
		}
	}
	recs["churn/1"].Rejected(ctx, RejectQueue)
	recs["churn/2"].Rejected(ctx, RejectQueue)
	recs["fraud/1"].Rejected(ctx, RejectConcurrency)

	fams := scrape(t, tel.MetricsHandler())

	counts := series(t, fams, "mlgate_requests_total", dto.MetricType_COUNTER)
	if len(counts) != len(reqs) {
		t.Errorf("mlgate_requests_total: got %d series; want %d", len(counts), len(reqs))
	}
	for _, r := range reqs {
		target := "champion"
		if r.version == "2" {
			target = "challenger"
		}
		key := labels{"route": r.route, "target": target, "model_name": r.route + "-gbm",
			"model_version": r.version, "status_class": strconv.Itoa(r.status/100) + "xx", "protocol": "mlflow"}.String()
		m, ok := counts[key]
		if !ok {
			t.Errorf("mlgate_requests_total%s missing", key)
			continue
		}
		if got := value(m); got != float64(r.n) {
			t.Errorf("mlgate_requests_total%s = %v; want %d", key, got, r.n)
		}
	}

	checkHistogram := func(name string, want map[string]int, wantTotal int, sample time.Duration) {
		t.Helper()
		hs := series(t, fams, name, dto.MetricType_HISTOGRAM)
		var sum uint64
		for key, m := range hs {
			h := m.GetHistogram()
			sum += h.GetSampleCount()
			if w, ok := want[key]; !ok {
				t.Errorf("%s%s: unexpected series", name, key)
			} else if h.GetSampleCount() != uint64(w) {
				t.Errorf("%s%s count = %d; want %d", name, key, h.GetSampleCount(), w)
			}
			if got, w := h.GetSampleSum(), float64(h.GetSampleCount())*sample.Seconds(); math.Abs(got-w) > 1e-9 {
				t.Errorf("%s%s sum = %v; want %v", name, key, got, w)
			}
			checkBuckets(t, name+key, h, sample.Seconds())
		}
		if len(hs) != len(want) {
			t.Errorf("%s: got %d series; want %d", name, len(hs), len(want))
		}
		if sum != uint64(wantTotal) {
			t.Errorf("%s: counts add up to %d; want %d", name, sum, wantTotal)
		}
	}

	reqWant, infWant, httpWant := map[string]int{}, map[string]int{}, map[string]int{}
	for _, r := range reqs {
		key := labels{"route": r.route, "model_name": r.route + "-gbm", "model_version": r.version}.String()
		reqWant[key] += r.n
		if r.status != 400 {
			infWant[key] += r.n
		}
		hk := labels{"http_request_method": "POST", "http_response_status_code": strconv.Itoa(r.status),
			"http_route": "/routes/" + r.route + "/invocations"}.String()
		httpWant[hk] += r.n
	}
	checkHistogram("mlgate_inference_duration_seconds", infWant, inferred, inference)
	checkHistogram("http_server_request_duration_seconds", httpWant, all, total)

	rejected := series(t, fams, "mlgate_admission_rejected_total", dto.MetricType_COUNTER)
	for key, want := range map[string]float64{
		labels{"route": "churn", "reason": "queue"}.String():       2,
		labels{"route": "fraud", "reason": "concurrency"}.String(): 1,
	} {
		if got := value(rejected[key]); got != want {
			t.Errorf("mlgate_admission_rejected_total%s = %v; want %v", key, got, want)
		}
	}
	if len(rejected) != 2 {
		t.Errorf("mlgate_admission_rejected_total: got %d series; want 2", len(rejected))
	}
}

// checkBuckets checks that every sample of h, all of value v, sits in the
// first bucket whose bound is at least v.
func checkBuckets(t *testing.T, name string, h *dto.Histogram, v float64) {
	t.Helper()
	for _, b := range h.GetBucket() {
		want := uint64(0)
		if b.GetUpperBound() >= v {
			want = h.GetSampleCount()
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("%s bucket le=%v = %d; want %d", name, b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if len(h.GetBucket()) < len(latencyBuckets) {
		t.Errorf("%s: got %d buckets; want at least %d", name, len(h.GetBucket()), len(latencyBuckets))
	}
}

func TestHTTPRouteLabels(t *testing.T) {
	tel := newTestTelemetry(t, nil)
	ins, err := NewInstruments(tel.MeterProvider())
	if err != nil {
		t.Fatalf("NewInstruments: %v", err)
	}
	ping := ins.HTTPRoute("/ping")
	if again := ins.HTTPRoute("/ping"); again != ping {
		t.Error("HTTPRoute(\"/ping\") twice: got two recorders; want the same one")
	}
	ctx := context.Background()
	records := []struct {
		method string
		status int
	}{
		{"GET", 200}, {"GET", 200}, {"HEAD", 200}, {"PROPFIND", 405}, {"get", 404}, {"GET", 0}, {"GET", 600},
	}
	for _, r := range records {
		ping.Record(ctx, r.method, r.status, time.Millisecond)
	}
	hs := series(t, scrape(t, tel.MetricsHandler()), "http_server_request_duration_seconds", dto.MetricType_HISTOGRAM)
	want := map[string]uint64{
		labels{"http_route": "/ping", "http_request_method": "GET", "http_response_status_code": "200"}.String():    2,
		labels{"http_route": "/ping", "http_request_method": "HEAD", "http_response_status_code": "200"}.String():   1,
		labels{"http_route": "/ping", "http_request_method": "_OTHER", "http_response_status_code": "405"}.String(): 1,
		labels{"http_route": "/ping", "http_request_method": "_OTHER", "http_response_status_code": "404"}.String(): 1,
		labels{"http_route": "/ping", "http_request_method": "GET"}.String():                                        2,
	}
	for key, w := range want {
		if got := hs[key].GetHistogram().GetSampleCount(); got != w {
			t.Errorf("http_server_request_duration_seconds%s count = %d; want %d", key, got, w)
		}
	}
	if len(hs) != len(want) {
		t.Errorf("got %d series; want %d", len(hs), len(want))
	}
}

func TestMethod(t *testing.T) {
	for in, want := range map[string]string{
		"GET": "GET", "POST": "POST", "PATCH": "PATCH", "post": "_OTHER", "": "_OTHER", "BREW": "_OTHER",
	} {
		if got := Method([]byte(in)); got != want {
			t.Errorf("Method(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestActiveRequests(t *testing.T) {
	tel := newTestTelemetry(t, nil)
	ins, err := NewInstruments(tel.MeterProvider())
	if err != nil {
		t.Fatalf("NewInstruments: %v", err)
	}
	reg, err := RegisterObservers(ins, Sources{ActiveRequests: func() int64 { return 7 }})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	got := series(t, scrape(t, tel.MetricsHandler()), "http_server_active_requests", dto.MetricType_GAUGE)
	key := labels{"http_request_method": "POST", "url_scheme": "http"}.String()
	if v := value(got[key]); v != 7 {
		t.Errorf("http_server_active_requests%s = %v; want 7", key, v)
	}
}

func TestRecordModelLoad(t *testing.T) {
	tel := newTestTelemetry(t, nil)
	ins, err := NewInstruments(tel.MeterProvider())
	if err != nil {
		t.Fatalf("NewInstruments: %v", err)
	}
	ctx := context.Background()
	ins.RecordModelLoad(ctx, "churn-gbm", "3", 2*time.Second, nil)
	ins.RecordModelLoad(ctx, "churn-gbm", "3", 2*time.Second, nil)
	ins.RecordModelLoad(ctx, "churn-gbm", "4", 40*time.Millisecond, errors.New("no onnx flavor"))
	hs := series(t, scrape(t, tel.MetricsHandler()), "mlgate_model_load_duration_seconds", dto.MetricType_HISTOGRAM)
	for key, want := range map[string]uint64{
		labels{"model_name": "churn-gbm", "model_version": "3", "outcome": "ok"}.String():    2,
		labels{"model_name": "churn-gbm", "model_version": "4", "outcome": "error"}.String(): 1,
	} {
		if got := hs[key].GetHistogram().GetSampleCount(); got != want {
			t.Errorf("mlgate_model_load_duration_seconds%s count = %d; want %d", key, got, want)
		}
	}
}

func TestNewInstrumentsOnNilProvider(t *testing.T) {
	ins, err := NewInstruments(nil)
	if err != nil {
		t.Fatalf("NewInstruments(nil): %v", err)
	}
	rec := ins.NewRequestRecorder("churn", "champion", "churn-gbm", "1")
	rec.Done(context.Background(), 200, "POST", time.Millisecond, time.Millisecond)
	rec.Rejected(context.Background(), RejectQueue)
	if _, err := RegisterObservers(ins, Sources{LiveSessions: func() int64 { return 1 }}); err != nil {
		t.Errorf("RegisterObservers on a no-op provider: %v", err)
	}
}

func TestRejectReasonString(t *testing.T) {
	for r, want := range map[RejectReason]string{RejectConcurrency: "concurrency", RejectQueue: "queue", 7: "unknown", -1: "unknown"} {
		if got := r.String(); got != want {
			t.Errorf("RejectReason(%d).String() = %q; want %q", int(r), got, want)
		}
	}
}
