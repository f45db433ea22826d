package serve

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/testutil"
)

// TestAdmission sends 20 requests at once to a model that holds every
// request until the test lets go, with room for 2 in flight and 2 waiting:
// while the 2 admitted requests are held, every other one gets 429 with a
// message (at once when the queue is full, after the queue timeout
// otherwise), everything is counted, and the server stays healthy. The
// gate, not a model delay, decides which requests are served, so the
// outcome does not depend on how fast the machine sends them.
func TestAdmission(t *testing.T) {
	m := loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1))
	gated := gatedModel{Model: m, started: make(chan struct{}, 20), release: make(chan struct{})}
	ts := startServer(t, Config{MaxInflight: 2, MaxQueue: 2, QueueTimeout: 20 * time.Millisecond},
		[]RouteSpec{{Name: "churn", Targets: []TargetSpec{{URI: champion, Alias: "champion"}}}},
		map[string]Model{champion: gated})

	type result struct {
		status  int
		message string
		err     error
	}
	results := make(chan result, 20)
	for range 20 {
		go func() {
			resp, err := http.Post(ts.url+"/invocations", "application/json", strings.NewReader(benchRow))
			if err != nil {
				results <- result{err: err}
				return
			}
			var e struct {
				Code    string `json:"error_code"`
				Message string `json:"message"`
			}
			json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			results <- result{status: resp.StatusCode, message: e.Code + ": " + e.Message}
		}()
	}
	codes := map[int]int{}
	var messages []string
	collect := func(n int) {
		for range n {
			r := <-results
			if r.err != nil {
				t.Error(r.err)
				continue
			}
			codes[r.status]++
			if r.status == 429 {
				messages = append(messages, r.message)
			}
		}
	}
	collect(18) // every request but the 2 held by the model
	if n := len(gated.started); n != 2 {
		t.Errorf("%d requests reached the model while 2 were held; want 2", n)
	}
	close(gated.release)
	collect(2)
	t.Logf("status codes %v; e.g. %q", codes, messages[0])
	if codes[200] != 2 || codes[429] != 18 {
		t.Errorf("status codes %v; want 2 served, the other 18 429", codes)
	}
	for _, msg := range messages {
		if !strings.HasPrefix(msg, "REQUEST_LIMIT_EXCEEDED: route churn: ") {
			t.Errorf("429 message %q does not explain the limit", msg)
		}
	}
	st := ts.Status().Admission
	if st.RejectedQueueFull+st.RejectedTimeout != int64(codes[429]) || st.Inflight != 0 || st.Waiting != 0 {
		t.Errorf("admission status %+v; want %d rejections counted and nothing left in flight", st, codes[429])
	}
	for _, path := range []string{"/live", "/ready"} {
		resp, err := http.Get(ts.url + path)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s after overload: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	if r := post(t, ts.url+"/invocations", "application/json", benchRow); r.status != 200 {
		t.Errorf("request after overload: %d %s", r.status, r.body)
	}
}
