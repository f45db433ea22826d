package loadtest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// testIdle keeps fasthttp's connection cleaner short-lived so goleak sees
// it exit.
const testIdle = 50 * time.Millisecond

// watchdog bounds how long a test waits for Run before declaring it hung.
// It is a liveness bound, not a timing assertion.
const watchdog = 60 * time.Second

// checkLeaks verifies, after every other cleanup, that no goroutine
// outlived the test. Call it first in a test.
func checkLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// provenance describes the headers a test server stamps on a response.
type provenance struct {
	route, model, alias, version, runID string
}

func (p provenance) set(h http.Header) {
	for k, v := range map[string]string{"X-Route": p.route, "X-Model-Name": p.model, "X-Model-Alias": p.alias,
		"X-Model-Version": p.version, "X-Mlflow-Run-Id": p.runID} {
		if v != "" {
			h.Set(k, v)
		}
	}
}

// startServer starts an HTTP server on 127.0.0.1 that is closed when the
// test ends.
func startServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// predictions answers like mlgate: 200 and a predictions body.
func predictions(w http.ResponseWriter, p provenance) {
	p.set(w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"predictions": [{"probability": 0.25}]}`))
}

// startSilentServer accepts connections and reads requests but never
// answers. It returns its URL and a channel that receives once per accepted
// connection's first bytes.
func startSilentServer(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1024)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 4096)
				first := true
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					if first {
						got <- struct{}{}
						first = false
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String(), got
}

// runWithin runs Run and fails the test if it does not return within the
// watchdog.
func runWithin(t *testing.T, ctx context.Context, cfg Config) (*Report, error) {
	t.Helper()
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := Run(ctx, cfg)
		done <- result{rep, err}
	}()
	select {
	case r := <-done:
		return r.rep, r.err
	case <-time.After(watchdog):
		t.Fatalf("Run did not return within %v", watchdog)
		return nil, nil
	}
}

// mustRun runs cfg and fails the test on error.
func mustRun(t *testing.T, cfg Config) *Report {
	t.Helper()
	rep, err := runWithin(t, context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func jsonPayload(body string) Payload {
	return Payload{ContentType: ContentTypeJSON, Bodies: [][]byte{[]byte(body)}}
}

const smallBody = `{"inputs": [[37.0, 36.0, 1306.52, 1.0]]}`

func testdataPath(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("testdata", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return p
}

// collector gathers OnResult calls.
type collector struct {
	mu      sync.Mutex
	results []Result
}

func (c *collector) add(r Result) {
	c.mu.Lock()
	c.results = append(c.results, r)
	c.mu.Unlock()
}

func (c *collector) byIndex() map[int64]Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[int64]Result, len(c.results))
	for _, r := range c.results {
		m[r.Index] = r
	}
	return m
}
