package serve

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/testutil"
)

// netServer is a Server for churn-gbm v1 (route churn) on a main and an
// admin listener on loopback ports.
type netServer struct {
	*Server
	addr, adminAddr string
	logs            *lockedBuffer
}

// lockedBuffer collects log records from concurrent goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startNet(t *testing.T, cfg Config) *netServer {
	t.Helper()
	logs := &lockedBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, s, []RouteSpec{{Name: "churn", Targets: []TargetSpec{{URI: champion, Alias: "champion"}}}},
		served(map[string]Model{champion: loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1))}))
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- s.Serve(ln) }()
	go func() { done <- s.ServeAdmin(aln) }()
	accepting(t, ln.Addr().String())
	accepting(t, aln.Addr().String())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
		s.Close()
		http.DefaultClient.CloseIdleConnections()
		if t.Failed() {
			t.Logf("server logs:\n%s", logs.String())
		}
	})
	return &netServer{Server: s, addr: ln.Addr().String(), adminAddr: aln.Addr().String(), logs: logs}
}

// scoring is a one-row scoring request on a kept-alive connection.
const scoring = "POST /invocations HTTP/1.1\r\nHost: mlgate\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"

func scoringRequest() string { return fmt.Sprintf(scoring, len(benchRow), benchRow) }

// exchange writes raw to a new connection and reads every response until
// the server closes it, failing the test when it answers more than most.
func exchange(t *testing.T, addr, raw string, most int) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []*http.Response
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("after %d responses: %v", len(out), err)
			}
			return out
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
		if len(out) > most {
			t.Fatalf("the server answered %d requests on the connection; want at most %d", len(out), most)
		}
		if resp.Close {
			// The server said it closes: the next read must find the end.
			if _, err := br.ReadByte(); err == nil {
				t.Fatalf("bytes after a response with Connection: close")
			}
			return out
		}
	}
}

// TestAmbiguousFraming sends requests a proxy may frame differently from
// mlgate (request smuggling), each followed by a pipelined request: mlgate
// answers 400, closes the connection, and never serves the request behind.
func TestAmbiguousFraming(t *testing.T) {
	ns := startNet(t, Config{})
	smuggled := "GET /version HTTP/1.1\r\nHost: mlgate\r\n\r\n"
	tests := []struct {
		name, raw string
	}{
		{"content-length then transfer-encoding",
			"POST /invocations HTTP/1.1\r\nHost: mlgate\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"transfer-encoding then content-length",
			"POST /invocations HTTP/1.1\r\nHost: mlgate\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\nContent-Type: application/json\r\n\r\n0\r\n\r\n" + smuggled},
		{"lower-case names",
			"POST /invocations HTTP/1.1\r\nhost: mlgate\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"transfer-encoding in HTTP/1.0",
			"POST /invocations HTTP/1.0\r\nHost: mlgate\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resps := exchange(t, ns.addr, tt.raw, 1)
			if len(resps) != 1 {
				t.Fatalf("got %d responses; want 1", len(resps))
			}
			r := resps[0]
			body, _ := io.ReadAll(r.Body)
			if r.StatusCode != 400 || !r.Close || !bytes.Contains(bytes.ToLower(body), []byte("transfer-encoding")) {
				t.Errorf("got %d close=%v %s; want 400, Connection: close and a message naming Transfer-Encoding", r.StatusCode, r.Close, body)
			}
		})
	}
	t.Run("chunked alone is served and kept", func(t *testing.T) {
		chunked := "POST /invocations HTTP/1.1\r\nHost: mlgate\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strconv.FormatInt(int64(len(benchRow)), 16) + "\r\n" + benchRow + "\r\n0\r\n\r\n" +
			"GET /version HTTP/1.1\r\nHost: mlgate\r\nConnection: close\r\n\r\n"
		resps := exchange(t, ns.addr, chunked, 2)
		if len(resps) != 2 || resps[0].StatusCode != 200 || resps[1].StatusCode != 200 {
			t.Fatalf("got %d responses (%v); want 200 twice", len(resps), statuses(resps))
		}
	})
}

// TestParseErrorsDoNotQuoteTheRequest: the 400 for a request fasthttp
// cannot parse, and its log record, name the fault without quoting the
// request, which may carry a bearer token.
func TestParseErrorsDoNotQuoteTheRequest(t *testing.T) {
	ns := startNet(t, Config{})
	const token = "tok-0123456789abcdef-secret"
	resps := exchange(t, ns.addr, "POST /invocations HTTP/1.1\r\nHost: mlgate\r\nAuthorization: Bearer "+token+
		"\r\nTransfer-Encoding: gzip\r\n\r\n", 1)
	if len(resps) != 1 || resps[0].StatusCode != 400 {
		t.Fatalf("got %v; want one 400", statuses(resps))
	}
	body, _ := io.ReadAll(resps[0].Body)
	if bytes.Contains(body, []byte(token)) || strings.Contains(ns.logs.String(), token) {
		t.Errorf("the token reached the response %s or the logs:\n%s", body, ns.logs.String())
	}
}

func statuses(rs []*http.Response) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.StatusCode)
	}
	return out
}

// TestDrainingClosesKeptConnections: once draining, every response says
// Connection: close and the server closes the connection after it, so a
// keep-alive client opens no request on a connection about to go away.
func TestDrainingClosesKeptConnections(t *testing.T) {
	ns := startNet(t, Config{})
	two := scoringRequest() + scoringRequest()
	if resps := exchange(t, ns.addr, two+"GET /live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3); len(resps) != 3 || resps[0].Close || resps[1].Close {
		t.Fatalf("before draining: %d responses, close %v; want 3, the first two kept", len(resps), closes(resps))
	}
	ns.SetDraining()
	for _, addr := range []string{ns.addr, ns.adminAddr} {
		resps := exchange(t, addr, "GET /live HTTP/1.1\r\nHost: x\r\n\r\nGET /live HTTP/1.1\r\nHost: x\r\n\r\n", 1)
		if len(resps) != 1 || !resps[0].Close || resps[0].StatusCode != 200 {
			t.Errorf("%s while draining: %d responses %v close %v; want one 200 with Connection: close", addr, len(resps), statuses(resps), closes(resps))
		}
	}
	resps := exchange(t, ns.addr, two, 1)
	if len(resps) != 1 || !resps[0].Close || resps[0].StatusCode != 200 {
		t.Errorf("scoring while draining: %v close %v; want one 200 with Connection: close", statuses(resps), closes(resps))
	}
}

func closes(rs []*http.Response) []bool {
	var out []bool
	for _, r := range rs {
		out = append(out, r.Close)
	}
	return out
}

// TestSlowHeaders holds 20 connections that send their headers a byte at a
// time (slowloris) while normal requests are served: the server answers
// each slow one 408 and closes it once the header timeout passes, though
// the body timeout is an hour and bytes keep arriving.
func TestSlowHeaders(t *testing.T) {
	ns := startNet(t, Config{ReadHeaderTimeout: time.Second, ReadTimeout: time.Hour, IdleTimeout: time.Hour})
	const slow = 20
	type outcome struct {
		status int
		err    error
	}
	results := make(chan outcome, slow)
	started := make(chan struct{}, slow)
	var writers sync.WaitGroup
	for range slow {
		c, err := net.Dial("tcp", ns.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		stop := make(chan struct{})
		writers.Go(func() {
			header := "POST /invocations HTTP/1.1\r\nHost: mlgate\r\n" + strings.Repeat("X-Slow: trickle\r\n", 1000)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < len(header); i++ {
				if _, err := c.Write([]byte{header[i]}); err != nil {
					return
				}
				if i == 0 {
					started <- struct{}{}
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		})
		go func() {
			defer close(stop)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				results <- outcome{err: err}
				return
			}
			io.Copy(io.Discard, resp.Body)
			// The server closes after its 408: the next read finds the end.
			_, err = br.ReadByte()
			if err == nil {
				err = errors.New("connection still open after the 408")
			} else {
				err = nil
			}
			results <- outcome{status: resp.StatusCode, err: err}
		}()
	}
	for range slow {
		<-started
	}
	for i := range 20 {
		if r := post(t, "http://"+ns.addr+"/invocations", "application/json", benchRow); r.status != 200 {
			t.Fatalf("request %d beside the slow connections: %d %s", i, r.status, r.body)
		}
	}
	for range slow {
		o := <-results
		if o.err != nil || o.status != http.StatusRequestTimeout {
			t.Errorf("slow connection: status %d, %v; want 408 and the server closing it", o.status, o.err)
		}
	}
	writers.Wait()
}

// TestBodyTimeouts stalls in the middle of a request's body: a body of at
// most 64 KiB must arrive within the header timeout (408), a larger one has
// the body timeout of its own and is served when the rest comes after the
// header timeout has passed.
func TestBodyTimeouts(t *testing.T) {
	ns := startNet(t, Config{ReadHeaderTimeout: 100 * time.Millisecond, ReadTimeout: time.Hour, IdleTimeout: time.Hour})
	// send writes the headers and half the body; then, unless rest is
	// false, waits ten header timeouts and writes the rest.
	send := func(body string, rest bool) (*http.Response, error) {
		c, err := net.Dial("tcp", ns.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		head := "POST /invocations HTTP/1.1\r\nHost: mlgate\r\nContent-Type: application/json\r\n" +
			"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
		half := len(body) / 2
		if _, err := c.Write([]byte(head + body[:half])); err != nil {
			t.Fatal(err)
		}
		if rest {
			time.Sleep(time.Second)
			if _, err := c.Write([]byte(body[half:])); err != nil {
				return nil, err
			}
		}
		c.SetReadDeadline(time.Now().Add(time.Minute))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
		}
		return resp, err
	}
	if resp, err := send(benchRow, false); err != nil || resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("small body stalled: %v, %v; want 408 at the header timeout", resp, err)
	}
	// 16,384 rows of churn-gbm: about 400 KB.
	large := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [` +
		rowsOf(16384, `[37, 36.0, 1306.52, 1]`) + `]}}`
	if resp, err := send(large, true); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("large body stalled past the header timeout, within the body timeout: %v, %v; want 200", resp, err)
	}
}

// TestConnectionLimits opens connections up to the limits: the next one is
// answered 503 and closed at once, a client address over its own limit is
// refused while another address is served, and a released slot is used
// again.
func TestConnectionLimits(t *testing.T) {
	ns := startNet(t, Config{MaxConns: 4, MaxConnsPerIP: 3})
	dial := func(local string) (net.Conn, *bufio.Reader) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", ns.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	// served sends a request and reports whether it got 200 (true) or the
	// limit's 503 and a close (false).
	served := func(c net.Conn, br *bufio.Reader) bool {
		t.Helper()
		io.WriteString(c, "GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("no response: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		switch {
		case resp.StatusCode == 200:
			return true
		case resp.StatusCode == 503 && resp.Close && bytes.Contains(body, []byte("too many open connections")):
			return false
		}
		t.Fatalf("got %d %s; want 200 or the connection limit's 503", resp.StatusCode, body)
		return false
	}
	var held []net.Conn
	for i := range 3 {
		c, br := dial("127.0.0.1")
		if !served(c, br) {
			t.Fatalf("connection %d from 127.0.0.1 refused under the limits", i)
		}
		held = append(held, c)
	}
	if c, br := dial("127.0.0.1"); served(c, br) {
		t.Errorf("a 4th connection from 127.0.0.1 was served; want it refused (max 3 per address)")
	}
	c, br := dial("127.0.0.2")
	if !served(c, br) {
		t.Fatalf("the first connection from 127.0.0.2 was refused")
	}
	held = append(held, c)
	if c, br := dial("127.0.0.3"); served(c, br) {
		t.Errorf("a 5th connection was served; want it refused (max 4)")
	}
	if !strings.Contains(ns.logs.String(), "connection limit reached") {
		t.Errorf("no log record of the refused connections")
	}
	// A released slot serves again once the server has seen the close.
	held[0].Close()
	for {
		if c, br := dial("127.0.0.3"); served(c, br) {
			break
		}
	}
}

// failingListener fails its first Accepts with an error, then accepts.
type failingListener struct {
	net.Listener
	err   error
	fails atomic.Int32
}

func (f *failingListener) Accept() (net.Conn, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, f.err
	}
	return f.Listener.Accept()
}

// TestAcceptRetriesTransientErrors: running out of file descriptors (or
// another transient accept error) is logged and retried with backoff, not
// returned; an error retrying cannot mend is returned.
func TestAcceptRetriesTransientErrors(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ENOBUFS} {
		raw, err := Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		fl := &failingListener{Listener: raw, err: &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}}
		fl.fails.Store(4)
		var logs lockedBuffer
		l := newListener(fl, listenerConfig{name: "main", log: slog.New(slog.NewTextHandler(&logs, nil))})
		go func() {
			if c, err := net.Dial("tcp", raw.Addr().String()); err == nil {
				defer c.Close()
				io.Copy(io.Discard, c)
			}
		}()
		c, err := l.Accept()
		if err != nil {
			t.Fatalf("%v: Accept returned %v; want it retried", errno, err)
		}
		c.Close()
		if got := l.backoffs.Load(); got != 4 {
			t.Errorf("%v: %d retries counted; want 4", errno, got)
		}
		if !strings.Contains(logs.String(), "accepting a connection failed; retrying") || !strings.Contains(logs.String(), errno.Error()) {
			t.Errorf("%v: log %q does not report the retried failure", errno, logs.String())
		}
		l.Close()
	}

	raw, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	fatal := errors.New("listener broken")
	fl := &failingListener{Listener: raw, err: fatal}
	fl.fails.Store(1)
	if _, err := newListener(fl, listenerConfig{}).Accept(); !errors.Is(err, fatal) {
		t.Errorf("Accept with a permanent error: %v; want it returned", err)
	}
}

// TestCloseServesQueuedConnections closes a listener while 16 clients
// connect to it continuously: every client whose connection was
// established is served; the others are refused. Closing a listening
// socket resets the connections the kernel has completed but the server
// has not accepted; Close stops new handshakes first and accepts those.
func TestCloseServesQueuedConnections(t *testing.T) {
	raw, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newListener(raw, listenerConfig{name: "main"})
	addr := raw.Addr().String()
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4)
				if _, err := io.ReadFull(c, buf); err == nil {
					c.Write([]byte("ok\n"))
				}
			}()
		}
	}()
	var served, lost atomic.Int64
	var lostErr atomic.Value
	enough := make(chan struct{})
	var once sync.Once
	var clients sync.WaitGroup
	for range 16 {
		clients.Go(func() {
			for {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					if !errors.Is(err, syscall.ECONNREFUSED) {
						lost.Add(1)
						lostErr.Store(err)
					}
					return // refused: the listener is closed
				}
				_, werr := c.Write([]byte("ping"))
				got, rerr := io.ReadAll(c)
				c.Close()
				if werr != nil || rerr != nil || string(got) != "ok\n" {
					lost.Add(1)
					lostErr.Store(errors.Join(werr, rerr, errors.New(string(got))))
					continue
				}
				if served.Add(1) == 500 {
					once.Do(func() { close(enough) })
				}
			}
		})
	}
	<-enough
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	<-accepted
	clients.Wait()
	if n := lost.Load(); n > 0 {
		t.Errorf("%d established connections were not served (last: %v); want 0", n, lostErr.Load())
	}
	t.Logf("%d exchanges served before and during the close", served.Load())
}
