package loadtest

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// startFixedServer answers every HTTP/1.1 request on a keep-alive
// connection with the same response, without allocating per request, so
// that an allocation count of the client side is not polluted by the
// server.
func startFixedServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Model-Name: churn-gbm\r\n" +
		"X-Model-Alias: champion\r\nX-Model-Version: 1\r\nX-Route: default\r\nContent-Length: 40\r\n\r\n" +
		`{"predictions": [{"probability": 0.25}]}`)
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
				buf := make([]byte, 64<<10)
				n := 0
				for {
					m, err := c.Read(buf[n:])
					if err != nil {
						return
					}
					n += m
					for {
						end := bytes.Index(buf[:n], []byte("\r\n\r\n"))
						if end < 0 {
							break
						}
						total := end + 4 + contentLength(buf[:end])
						if n < total {
							break
						}
						if _, err := c.Write(resp); err != nil {
							return
						}
						n = copy(buf, buf[total:n])
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
	return "http://" + ln.Addr().String()
}

// contentLength reads the Content-Length header of a request head, as
// fasthttp writes it.
func contentLength(head []byte) int {
	const name = "\r\nContent-Length:"
	i := bytes.Index(head, []byte(name))
	if i < 0 {
		return 0
	}
	n := 0
	for _, c := range head[i+len(name):] {
		switch {
		case c == ' ':
		case c >= '0' && c <= '9':
			n = n*10 + int(c-'0')
		default:
			return n
		}
	}
	return n
}

func TestExchangeDoesNotAllocate(t *testing.T) {
	checkLeaks(t)
	cfg, err := Config{
		URL: startFixedServer(t), Connections: 1, Duration: time.Minute, Payload: jsonPayload(smallBody),
		Headers: []Header{{"X-User-Id", "{{key}}"}, {"Authorization", "Bearer t"}}, IdleConnTimeout: testIdle,
	}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	ep, err := parseEndpoint(cfg.URL, cfg.Route, cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(cfg, ep)
	r.t0 = time.Now()
	w := r.newWorker(0)
	defer w.release()
	defer r.conns.closeAll()
	defer r.client.CloseIdleConnections()
	i := int64(0)
	send := func() {
		r.exchange(w, i, atSend, true)
		i++
	}
	for range 10 {
		send() // dial, first target, first second
	}
	allocs := testing.AllocsPerRun(200, send)
	if r.rec.responses != i || r.rec.ok != i {
		t.Fatalf("got %d responses, %d ok; want %d of each", r.rec.responses, r.rec.ok, i)
	}
	// A new second of the series allocates once; spread over the runs it
	// rounds to zero. Under -race, sync.Pool (fasthttp's buffer pools)
	// drops a quarter of what it is given, so pooled buffers come back
	// freshly allocated; the bound still catches per-request garbage.
	want := 0.0
	if raceEnabled {
		want = 3
	}
	if allocs > want {
		t.Errorf("a request allocates %v times; want <= %v", allocs, want)
	}
}
