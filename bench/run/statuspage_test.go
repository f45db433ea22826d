package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestStatusPoller: the poller reads /admin/status at once and asks each
// time for the events after the newest it has seen, as the page does, and
// counts failed reads.
func TestStatusPoller(t *testing.T) {
	var mu sync.Mutex
	var since []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		since = append(since, r.URL.Query().Get("since"))
		n := len(since)
		mu.Unlock()
		if r.URL.Path != "/admin/status" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"routes": [], "events": [], "events_next": %d}`, 7*n)
	}))
	defer srv.Close()
	p := startStatusPoller(context.Background(), srv.URL)
	polls, failed := p.stop()
	mu.Lock()
	defer mu.Unlock()
	if polls < 1 || failed != 0 || since[0] != "0" {
		t.Errorf("%d polls, %d failed, since %v; want at least one read from since=0, none failed", polls, failed, since)
	}
	for i := 1; i < len(since); i++ {
		if since[i] != fmt.Sprint(7*i) {
			t.Errorf("read %d asked since=%s; want %d, the events_next of the read before", i+1, since[i], 7*i)
		}
	}

	down := startStatusPoller(context.Background(), "http://127.0.0.1:1")
	if polls, failed := down.stop(); failed != polls || polls == 0 {
		t.Errorf("against a closed port: %d polls, %d failed; want every read failed", polls, failed)
	}
}
