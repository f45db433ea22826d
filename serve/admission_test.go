package serve

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/testutil"
)

// TestAdmission sends 20 requests at once to a model that takes 100ms per
// request, with room for 2 in flight and 2 waiting: the excess gets 429
// with a message, everything is counted, and the server stays healthy.
func TestAdmission(t *testing.T) {
	m := loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1))
	slow := slowModel{Model: m, delay: 100 * time.Millisecond}
	ts := startServer(t, Config{MaxInflight: 2, MaxQueue: 2, QueueTimeout: 20 * time.Millisecond},
		[]RouteSpec{{Name: "churn", Targets: []TargetSpec{{URI: champion, Alias: "champion"}}}},
		map[string]Model{champion: slow})

	var mu sync.Mutex
	codes := map[int]int{}
	var messages []string
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			resp, err := http.Post(ts.url+"/invocations", "application/json", strings.NewReader(benchRow))
			if err != nil {
				t.Error(err)
				return
			}
			var e struct {
				Code    string `json:"error_code"`
				Message string `json:"message"`
			}
			json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			if resp.StatusCode == 429 {
				messages = append(messages, e.Code+": "+e.Message)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("status codes %v; e.g. %q", codes, messages[0])
	if codes[200] < 2 || codes[429] < 14 || codes[200]+codes[429] != 20 {
		t.Errorf("status codes %v; want at least 2 served, the excess 429", codes)
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
