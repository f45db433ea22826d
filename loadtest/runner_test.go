package loadtest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOpenLoopSendsOnSchedule(t *testing.T) {
	checkLeaks(t)
	url := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		predictions(w, provenance{alias: "champion", version: "1"})
	})
	var col collector
	const rate, n = 200, 60
	rep := mustRun(t, Config{
		URL: url, Rate: rate, Requests: n, MaxInFlight: 8, Payload: jsonPayload(smallBody),
		IdleConnTimeout: testIdle, OnResult: col.add,
	})
	got := col.byIndex()
	if len(got) != n {
		t.Fatalf("got %d results; want %d", len(got), n)
	}
	for i := int64(0); i < n; i++ {
		r, ok := got[i]
		if !ok {
			t.Fatalf("no result for request %d", i)
		}
		// t0 + i/R with R = 200/s is exactly i * 5 ms.
		if want := time.Duration(i) * 5 * time.Millisecond; r.Intended != want {
			t.Errorf("request %d: intended %v; want %v", i, r.Intended, want)
		}
		if r.Sent < r.Intended {
			t.Errorf("request %d: sent at %v, before its intended time %v", i, r.Sent, r.Intended)
		}
		if r.Status != http.StatusOK {
			t.Errorf("request %d: status %d; want 200", i, r.Status)
		}
	}
	if rep.Requests.Scheduled != n || rep.Requests.Sent != n || rep.Requests.OK != n {
		t.Errorf("got scheduled %d, sent %d, ok %d; want %d each", rep.Requests.Scheduled, rep.Requests.Sent, rep.Requests.OK, n)
	}
}

// A server that stalls once for 200 ms: the requests scheduled during the
// stall cannot be sent (one connection), and their latency must count from
// their intended send times, so the stall shows in the recorded latencies
// rather than being hidden by the client waiting.
func TestOpenLoopAccountsForCoordinatedOmission(t *testing.T) {
	checkLeaks(t)
	const stallAt = 49
	var n atomic.Int64
	url := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)-1 == stallAt {
			time.Sleep(200 * time.Millisecond)
		}
		predictions(w, provenance{version: "1"})
	})
	var col collector
	const total = 120
	rep := mustRun(t, Config{
		URL: url, Rate: 200, Requests: total, MaxInFlight: 1, Payload: jsonPayload(smallBody),
		Timeout: time.Minute, IdleConnTimeout: testIdle, OnResult: col.add,
	})
	res := col.byIndex()
	if len(res) != total {
		t.Fatalf("got %d results; want %d", len(res), total)
	}
	stalled := res[stallAt]
	if d := stalled.Done - stalled.Sent; d < 200*time.Millisecond {
		t.Fatalf("stalled request took %v from send; want >= 200ms", d)
	}
	var maxLat time.Duration
	slow, late := 0, int64(0)
	for i := int64(0); i < total; i++ {
		r := res[i]
		maxLat = max(maxLat, r.Latency())
		if r.Latency() >= 100*time.Millisecond {
			slow++
		}
		if i > stallAt && r.Intended < stalled.Done {
			// Scheduled while the only connection was stalled.
			if r.Sent < stalled.Done {
				t.Errorf("request %d sent at %v, before the stalled request finished at %v", i, r.Sent, stalled.Done)
			}
			if want := stalled.Done - r.Intended; r.Latency() < want {
				t.Errorf("request %d: latency %v; want >= %v (from its intended time)", i, r.Latency(), want)
			}
			if r.Intended+time.Millisecond < stalled.Done {
				late++
			}
		}
	}
	// Requests intended within 100 ms after the stalled one waited at least
	// 100 ms: 19 of them at 5 ms spacing, plus the stalled one.
	if slow < 20 {
		t.Errorf("got %d requests with latency >= 100ms; want >= 20", slow)
	}
	if rep.Latency.Max != micros(maxLat) {
		t.Errorf("report max latency %dµs; want %dµs (the largest intended-to-done latency)", rep.Latency.Max, micros(maxLat))
	}
	if rep.Latency.P90 < 100_000 {
		t.Errorf("report p90 %dµs; want >= 100000µs (>= 20 of %d requests took >= 100 ms)", rep.Latency.P90, total)
	}
	if rep.Requests.Late < late {
		t.Errorf("report counts %d late requests; want >= %d", rep.Requests.Late, late)
	}
	if rep.SendLag.Max < micros(stalled.Done-res[stallAt+1].Intended) {
		t.Errorf("send lag max %dµs; want >= %dµs", rep.SendLag.Max, micros(stalled.Done-res[stallAt+1].Intended))
	}
}

func TestRunStopsWhenServerNeverAnswers(t *testing.T) {
	tests := []struct {
		name                        string
		cfg                         Config
		wantTimeouts, wantUnsent    int64
		wantScheduled, wantResponse int64
	}{{
		// Two connections each send one request and wait; the window ends;
		// at the hard deadline both are abandoned as timeouts.
		name:          "closed loop",
		cfg:           Config{Connections: 2, Duration: 300 * time.Millisecond},
		wantTimeouts:  2,
		wantScheduled: 2,
	}, {
		// 30 requests are due in 300 ms at 100/s; 3 workers send one each
		// and wait; the other 27 are never sent.
		name:          "open loop",
		cfg:           Config{Rate: 100, MaxInFlight: 3, Duration: 300 * time.Millisecond},
		wantTimeouts:  3,
		wantUnsent:    27,
		wantScheduled: 30,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			url, _ := startSilentServer(t)
			cfg := tt.cfg
			cfg.URL = url
			cfg.Payload = jsonPayload(smallBody)
			cfg.Timeout = time.Hour // only the run's hard deadline can end the requests
			cfg.Grace = 200 * time.Millisecond
			cfg.IdleConnTimeout = testIdle
			rep, err := runWithin(t, context.Background(), cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			q := rep.Requests
			if q.Responses != tt.wantResponse || q.Scheduled != tt.wantScheduled || q.Unsent != tt.wantUnsent {
				t.Errorf("got responses %d, scheduled %d, unsent %d; want %d, %d, %d",
					q.Responses, q.Scheduled, q.Unsent, tt.wantResponse, tt.wantScheduled, tt.wantUnsent)
			}
			if q.TransportErrors != tt.wantTimeouts {
				t.Errorf("got %d transport errors; want %d", q.TransportErrors, tt.wantTimeouts)
			}
			if len(rep.TransportErrors) != 1 || rep.TransportErrors[0].Kind != ErrKindTimeout || rep.TransportErrors[0].Count != tt.wantTimeouts {
				t.Errorf("got transport errors %+v; want %d of kind %q", rep.TransportErrors, tt.wantTimeouts, ErrKindTimeout)
			}
			if got := q.Errors(); got != tt.wantScheduled {
				t.Errorf("got %d failed requests; want all %d", got, tt.wantScheduled)
			}
			if rep.Interrupted {
				t.Error("report marked interrupted; want a run that ended by itself")
			}
		})
	}
}

func TestRunStopsWhenContextIsCancelled(t *testing.T) {
	checkLeaks(t)
	url, accepted := startSilentServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-accepted
		cancel()
	}()
	rep, err := runWithin(t, ctx, Config{
		URL: url, Connections: 1, Duration: time.Hour, Timeout: time.Hour,
		Payload: jsonPayload(smallBody), IdleConnTimeout: testIdle,
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error %v; want context.Canceled", err)
	}
	if rep == nil || !rep.Interrupted {
		t.Fatalf("got report %v; want a partial report marked interrupted", rep)
	}
	if len(rep.TransportErrors) != 1 || rep.TransportErrors[0].Kind != ErrKindAborted || rep.TransportErrors[0].Count != 1 {
		t.Errorf("got transport errors %+v; want 1 %q", rep.TransportErrors, ErrKindAborted)
	}
}

func TestClosedLoopCountsStatuses(t *testing.T) {
	checkLeaks(t)
	var n atomic.Int64
	url := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		p := provenance{model: "churn-gbm", alias: "champion", version: "1"}
		switch {
		case i%10 == 0:
			p.set(w.Header())
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error_code": "RESOURCE_EXHAUSTED", "message": "overloaded"}`))
		case i%25 == 0:
			p.set(w.Header())
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error_code": "BAD_REQUEST", "message": "bad"}`))
		default:
			predictions(w, p)
		}
	})
	const total = 200
	var col collector
	rep := mustRun(t, Config{URL: url, Connections: 4, Requests: total, Payload: jsonPayload(smallBody), IdleConnTimeout: testIdle, OnResult: col.add})
	// Of 1..200: 20 multiples of 10 (429), 4 odd multiples of 25 (400).
	want := []StatusCount{{200, 176}, {400, 4}, {429, 20}}
	if len(rep.Statuses) != len(want) {
		t.Fatalf("got statuses %+v; want %+v", rep.Statuses, want)
	}
	for i := range want {
		if rep.Statuses[i] != want[i] {
			t.Errorf("status %d: got %+v; want %+v", i, rep.Statuses[i], want[i])
		}
	}
	q := rep.Requests
	if q.Sent != total || q.Responses != total || q.OK != 176 || q.HTTPErrors != 24 || q.Unsent != 0 || q.Late != 0 {
		t.Errorf("got %+v; want 200 sent and answered, 176 ok, 24 http errors", q)
	}
	if rep.Latency.Count != total {
		t.Errorf("latency histogram holds %d values; want %d", rep.Latency.Count, total)
	}
	// The closed loop has no schedule: latency is service time.
	if rep.Latency != rep.ServiceTime {
		t.Errorf("closed loop latency %+v differs from service time %+v", rep.Latency, rep.ServiceTime)
	}
	for _, r := range col.byIndex() {
		if r.Intended != r.Sent {
			t.Errorf("request %d: intended %v, sent %v; want equal in the closed loop", r.Index, r.Intended, r.Sent)
		}
	}
	if rep.Throughput.Total <= 0 || rep.Throughput.OK >= rep.Throughput.Total {
		t.Errorf("got throughput %+v; want total > ok > 0", rep.Throughput)
	}
}

func TestConnectionRefusedIsCounted(t *testing.T) {
	checkLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rep := mustRun(t, Config{URL: "http://" + addr, Connections: 1, Requests: 10, Payload: jsonPayload(smallBody), IdleConnTimeout: testIdle})
	if len(rep.TransportErrors) != 1 || rep.TransportErrors[0].Kind != ErrKindRefused || rep.TransportErrors[0].Count != 10 {
		t.Fatalf("got transport errors %+v; want 10 %q", rep.TransportErrors, ErrKindRefused)
	}
	if rep.TransportErrors[0].Example == "" {
		t.Error("no example message for the error kind")
	}
}

func TestWarmupIsNotMeasured(t *testing.T) {
	checkLeaks(t)
	var n atomic.Int64
	url := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		predictions(w, provenance{version: "1"})
	})
	// 100/s: requests 0..9 fall in the 100 ms warmup, 10..29 are measured.
	var col collector
	rep := mustRun(t, Config{URL: url, Rate: 100, Warmup: 100 * time.Millisecond, Duration: 200 * time.Millisecond,
		Payload: jsonPayload(smallBody), IdleConnTimeout: testIdle, OnResult: col.add})
	if rep.Requests.Warmup != 10 || rep.Requests.Sent != 20 {
		t.Errorf("got warmup %d, measured %d; want 10, 20", rep.Requests.Warmup, rep.Requests.Sent)
	}
	if got := n.Load(); got != 30 {
		t.Errorf("server saw %d requests; want 30", got)
	}
	idx := make([]int64, 0, 20)
	for i := range col.byIndex() {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	if len(idx) != 20 || idx[0] != 10 || idx[19] != 29 {
		t.Errorf("measured indices %v; want 10..29", idx)
	}
}

func TestStickyKeyHeaders(t *testing.T) {
	for _, order := range []KeyOrder{KeysCycle, KeysRandom} {
		t.Run(order.String(), func(t *testing.T) {
			checkLeaks(t)
			var mu sync.Mutex
			var got []string
			url := startServer(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = append(got, r.Header.Get("X-User-Id")+"|"+r.Header.Get("Authorization"))
				mu.Unlock()
				predictions(w, provenance{version: "1"})
			})
			mustRun(t, Config{URL: url, Connections: 1, Requests: 9, Payload: jsonPayload(smallBody), IdleConnTimeout: testIdle,
				Headers: []Header{{"X-User-Id", "user-{{key}}"}, {"Authorization", "Bearer t"}}, Keys: 3, KeyOrder: order, Seed: 7})
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 9 {
				t.Fatalf("server saw %d requests; want 9", len(got))
			}
			valid := map[string]bool{"user-key-0|Bearer t": true, "user-key-1|Bearer t": true, "user-key-2|Bearer t": true}
			for i, g := range got {
				if order == KeysCycle {
					if want := "user-" + cohortKey(i%3) + "|Bearer t"; g != want {
						t.Errorf("request %d: headers %q; want %q", i, g, want)
					}
				} else if !valid[g] {
					t.Errorf("request %d: headers %q; want one of the 3 keys", i, g)
				}
			}
		})
	}
}

func TestRequestTargetsRouteWithContentType(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	var paths []string
	url := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		predictions(w, provenance{route: "canary", version: "2"})
	})
	body, err := FilePayload(testdataPath(t, "churn-gbm-batch.csv"), ContentTypeCSV)
	if err != nil {
		t.Fatal(err)
	}
	rep := mustRun(t, Config{URL: url + "/", Route: "canary", Connections: 1, Requests: 2, Payload: body, IdleConnTimeout: testIdle})
	mu.Lock()
	defer mu.Unlock()
	for _, p := range paths {
		if want := "POST /routes/canary/invocations text/csv"; p != want {
			t.Errorf("got request %q; want %q", p, want)
		}
	}
	if len(rep.Tally.ByRoute) != 1 || rep.Tally.ByRoute[0] != (NameCount{"canary", 2}) {
		t.Errorf("got route tally %+v; want canary: 2", rep.Tally.ByRoute)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	ok := jsonPayload(smallBody)
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"negative rate", Config{Rate: -1, Payload: ok}, "Rate"},
		{"rate and connections", Config{Rate: 10, Connections: 2, Payload: ok}, "Connections"},
		{"no payload", Config{}, "Payload"},
		{"bad scheme", Config{URL: "ftp://x", Payload: ok}, "URL"},
		{"bad route", Config{Route: "a/b", Payload: ok}, "Route"},
		{"bad header", Config{Headers: []Header{{"Bad Name", "x"}}, Payload: ok}, "Headers"},
		{"confidence", Config{Confidence: 1.5, Payload: ok}, "Confidence"},
		{"negative duration", Config{Duration: -time.Second, Payload: ok}, "Duration"},
		{"bad split", Config{ExpectSplit: &Split{By: "alias"}, Payload: ok}, "ExpectSplit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("got error %v; want a *ConfigError for %s", err, tt.field)
			}
		})
	}
}

func TestParseEndpointPath(t *testing.T) {
	for _, bad := range []struct{ route, path string }{{"churn", "/v2/models/churn/infer"}, {"", "v2/models"}, {"", "/v2?x=1"}} {
		if _, err := parseEndpoint("http://127.0.0.1:8080", bad.route, bad.path); err == nil {
			t.Errorf("route %q, path %q: no error", bad.route, bad.path)
		}
	}
}

// A scoring URL given as the base URL is refused, naming the field,
// instead of sending every request to .../invocations/invocations.
func TestParseEndpointScoringURL(t *testing.T) {
	for _, raw := range []string{"http://127.0.0.1:8080/invocations", "http://127.0.0.1:8080/routes/churn/invocations/", "https://gw.example/prefix/invocations"} {
		_, err := parseEndpoint(raw, "", "")
		if err == nil || !strings.Contains(err.Error(), "URL") || !strings.Contains(err.Error(), "base URL") {
			t.Errorf("%s: got %v; want an error naming URL and asking for the base URL", raw, err)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		url, route, path string
		want             endpoint
	}{
		{"http://127.0.0.1:8080", "", "", endpoint{"127.0.0.1:8080", false, "http://127.0.0.1:8080/invocations"}},
		{"http://localhost", "canary", "", endpoint{"localhost:80", false, "http://localhost/routes/canary/invocations"}},
		{"https://gw.example/prefix/", "", "", endpoint{"gw.example:443", true, "https://gw.example/prefix/invocations"}},
		{"http://[::1]:9000", "a b", "", endpoint{"[::1]:9000", false, "http://[::1]:9000/routes/a%20b/invocations"}},
		{"http://127.0.0.1:8080", "", "/v2/models/churn/infer", endpoint{"127.0.0.1:8080", false, "http://127.0.0.1:8080/v2/models/churn/infer"}},
	}
	for _, tt := range tests {
		got, err := parseEndpoint(tt.url, tt.route, tt.path)
		if err != nil {
			t.Errorf("parseEndpoint(%q, %q): %v", tt.url, tt.route, err)
			continue
		}
		if got != tt.want {
			t.Errorf("parseEndpoint(%q, %q) = %+v; want %+v", tt.url, tt.route, got, tt.want)
		}
	}
}
