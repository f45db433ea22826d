package serve

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/signature"
)

// splitBody is a dataframe_split request of n rows for churn-gbm v1.
func splitBody(n int) string {
	return `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [` +
		rowsOf(n, "[37, 36.0, 1306.52, 1]") + `]}}`
}

// errorBody decodes MLflow's error body.
func errorBody(t *testing.T, r response) (code, msg string) {
	t.Helper()
	var e struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	return e.Code, e.Message
}

// TestRequestLimits refuses requests with more rows or values than their
// route allows with 413 and a message naming the limit and how to raise
// it, counts them, and lets a route's own limits override the server's.
func TestRequestLimits(t *testing.T) {
	m := loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1))
	ts := startServer(t, Config{MaxRows: 10, MaxElements: 1000},
		[]RouteSpec{
			{Name: "churn", Targets: []TargetSpec{{URI: champion, Alias: "champion"}}},
			{Name: "wide", Targets: []TargetSpec{{URI: champion}}, Limits: Limits{MaxRows: 20}},
			{Name: "narrow", Targets: []TargetSpec{{URI: champion}}, Limits: Limits{MaxElements: 8}},
		},
		map[string]Model{champion: m})
	tests := []struct {
		route  string
		rows   int
		status int
		msg    string
	}{
		{"churn", 10, 200, ""},
		{"churn", 11, 413, "model churn-gbm version 1 (alias champion): the request has more than 10 rows (max_rows); send fewer rows per request, or raise the max_rows setting (for the server, or in the route's limits)"},
		{"wide", 15, 200, ""},
		{"wide", 21, 413, "more than 20 rows (max_rows)"},
		{"narrow", 2, 200, ""},
		{"narrow", 3, 413, "the request holds more than 8 values (max_elements); send fewer values per request, or raise the max_elements setting"},
	}
	refused := 0
	for _, tt := range tests {
		r := post(t, ts.url+"/routes/"+tt.route+"/invocations", "application/json", splitBody(tt.rows))
		if r.status != tt.status {
			t.Errorf("%s, %d rows: status %d %s; want %d", tt.route, tt.rows, r.status, r.body, tt.status)
			continue
		}
		if tt.status == 413 {
			refused++
			if code, msg := errorBody(t, r); code != "BAD_REQUEST" || !strings.Contains(msg, tt.msg) {
				t.Errorf("%s, %d rows: %s %q; want BAD_REQUEST containing %q", tt.route, tt.rows, code, msg, tt.msg)
			}
		}
	}
	if st := ts.Status().Admission; st.RejectedLimits != int64(refused) || st.InflightBytes != 0 {
		t.Errorf("admission %+v; want %d refused for limits and nothing in flight", st, refused)
	}
	want := map[string]Limits{"churn": {10, 1000}, "wide": {20, 1000}, "narrow": {10, 8}}
	for _, rs := range ts.Status().Routes {
		if got := rs.Targets[0].Limits; got == nil || *got != want[rs.Name] {
			t.Errorf("route %s: /admin/models limits %v; want %+v", rs.Name, got, want[rs.Name])
		}
	}
	if _, err := ts.SetRoutes([]RouteSpec{{Name: "bad", Targets: []TargetSpec{{URI: champion}}, Limits: Limits{MaxRows: -1}}}, ""); err == nil {
		t.Error("SetRoutes accepted negative limits")
	}
	if _, err := New(Config{MaxElements: -1}); err == nil {
		t.Error("New accepted a negative MaxElements")
	}
}

// countingModel counts Predict calls.
type countingModel struct {
	Model
	calls *atomic.Int64
}

func (m countingModel) Predict(ctx context.Context, b *signature.Batch, dst []byte) ([]byte, error) {
	m.calls.Add(1)
	return m.Model.Predict(ctx, b, dst)
}

// TestDeadlineCoversDecoding gives requests a deadline shorter than any
// decode: it starts when the request has been read, so decoding is cut off
// with 504 and the model is never called. (The deadline used to start
// after decoding, and an idle model would have answered.)
func TestDeadlineCoversDecoding(t *testing.T) {
	var calls atomic.Int64
	m := countingModel{Model: loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1)), calls: &calls}
	ts := startServer(t, Config{RequestTimeout: time.Nanosecond},
		[]RouteSpec{{Name: "churn", Targets: []TargetSpec{{URI: champion}}}}, map[string]Model{champion: m})
	r := post(t, ts.url+"/invocations", "application/json", splitBody(100))
	if code, msg := errorBody(t, r); r.status != 504 || code != codeDeadlineExceeded || !strings.Contains(msg, "decoding the request: context deadline exceeded") {
		t.Errorf("status %d %s %q; want 504 DEADLINE_EXCEEDED while decoding", r.status, code, msg)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the model was called %d times; want 0", n)
	}
}

// gatedModel blocks each Predict until the test lets it through, and says
// when one has started.
type gatedModel struct {
	Model
	started chan struct{}
	release chan struct{}
}

func (m gatedModel) Predict(ctx context.Context, b *signature.Batch, dst []byte) ([]byte, error) {
	m.started <- struct{}{}
	<-m.release
	return m.Model.Predict(ctx, b, dst)
}

// TestInflightBytes admits requests by the memory they will hold: with one
// request in flight taking most of MaxInflightBytes, the next waits, then
// gets 429 naming the limit, or is admitted when the first finishes. A
// request larger than the whole budget is served alone. Admission status
// shows the bytes in flight, their peak and the rejections.
func TestInflightBytes(t *testing.T) {
	m := loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1))
	big, small := splitBody(100), splitBody(1)
	cost, err := m.Plan().Measure(signature.FormatJSON, []byte(big), signature.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	need := cost.Memory()
	gate := gatedModel{Model: m, started: make(chan struct{}), release: make(chan struct{})}
	for _, tt := range []struct {
		name    string
		timeout time.Duration
		status  int
	}{
		{"refused after waiting", 10 * time.Millisecond, 429},
		{"admitted when room is made", time.Minute, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, Config{MaxInflightBytes: need + need/2, QueueTimeout: tt.timeout},
				[]RouteSpec{{Name: "churn", Targets: []TargetSpec{{URI: champion}}}}, map[string]Model{champion: gate})
			first := make(chan response, 1)
			go func() { first <- post(t, ts.url+"/invocations", "application/json", big) }()
			<-gate.started
			if st := ts.Status().Admission; st.InflightBytes != need || st.PeakInflightBytes != need {
				t.Errorf("admission %+v; want %d bytes in flight", st, need)
			}
			second := make(chan response, 1)
			go func() { second <- post(t, ts.url+"/invocations", "application/json", big) }()
			if tt.status == 429 {
				r := <-second
				code, msg := errorBody(t, r)
				if r.status != 429 || code != codeRequestLimitExceeded || !strings.Contains(msg, "max_inflight_bytes") {
					t.Errorf("second request: %d %s %q; want 429 naming max_inflight_bytes", r.status, code, msg)
				}
				if st := ts.Status().Admission; st.RejectedBytes != 1 || st.WaitingForBytes != 0 {
					t.Errorf("admission %+v; want one rejection for bytes and nobody waiting", st)
				}
			} else {
				for ts.Status().Admission.WaitingForBytes != 1 {
					time.Sleep(time.Millisecond)
				}
			}
			gate.release <- struct{}{}
			if r := <-first; r.status != 200 {
				t.Errorf("first request: %d %s", r.status, r.body)
			}
			if tt.status == 200 {
				<-gate.started
				gate.release <- struct{}{}
				if r := <-second; r.status != 200 {
					t.Errorf("second request: %d %s", r.status, r.body)
				}
			}
			go func() { <-gate.started; gate.release <- struct{}{} }()
			if r := post(t, ts.url+"/invocations", "application/json", small); r.status != 200 {
				t.Errorf("a request after: %d %s", r.status, r.body)
			}
			if st := ts.Status().Admission; st.InflightBytes != 0 || st.PeakInflightBytes != need || st.MaxInflightBytes != need+need/2 {
				t.Errorf("admission %+v; want nothing in flight, a peak of %d", st, need)
			}
		})
	}
	t.Run("larger than the budget", func(t *testing.T) {
		ts := startServer(t, Config{MaxInflightBytes: 1},
			[]RouteSpec{{Name: "churn", Targets: []TargetSpec{{URI: champion}}}}, map[string]Model{champion: m})
		if r := post(t, ts.url+"/invocations", "application/json", big); r.status != 200 {
			t.Errorf("status %d %s; want 200", r.status, r.body)
		}
		if st := ts.Status().Admission; st.PeakInflightBytes != need || st.InflightBytes != 0 {
			t.Errorf("admission %+v; want a peak of %d", st, need)
		}
	})
}
