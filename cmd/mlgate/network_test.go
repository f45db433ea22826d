package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

// waitReady polls the process's /ready until it answers 200.
func waitReady(t *testing.T, p *process) {
	t.Helper()
	waitFor(t, "mlgate to be ready", func() bool { return status(p.url+"/ready") == 200 })
}

// stopProcess sends SIGTERM and checks that mlgate exits 0.
func stopProcess(t *testing.T, p *process) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.done; err != nil {
		t.Errorf("exit after SIGTERM: %v; want 0", err)
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// dialMany opens n connections to addr and sends nothing on them.
func dialMany(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("after %d connections: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	t.Cleanup(func() { closeAll(conns) })
	return conns
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// TestFDExhaustion runs mlgate with 256 file descriptors (prlimit) and
// opens 300 connections to it.
//
// With --max-connections above what the descriptors allow, accepting
// fails with "too many open files": mlgate logs it, backs off and keeps
// running, and serves again once the connections are released. With the
// default limit (the descriptor limit less a reserve: 128 here) the excess
// connections get 503 and are closed at once, and descriptors never run
// out.
func TestFDExhaustion(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("this test runs mlgate under prlimit (util-linux): %v", err)
	}
	wrap := []string{prlimit, "--nofile=256:256"}
	fake := fakemlflow.New(t)

	t.Run("accept backs off", func(t *testing.T) {
		p := startWrapped(t, wrap, fake.URL(), "--max-connections", "100000", "--drain-delay", "0s")
		waitReady(t, p)
		conns := dialMany(t, strings.TrimPrefix(p.url, "http://"), 300)
		p.waitLog(t, "accepting a connection failed; retrying", "too many open files")
		if !p.running() {
			t.Fatal("mlgate exited when it ran out of file descriptors")
		}
		closeAll(conns)
		waitFor(t, "a request served once the connections are released", func() bool { return status(p.url+"/ready") == 200 })
		if r := postJSON(t, p.url+"/invocations", oneRow); r.status != 200 {
			t.Errorf("scoring after the flood: %d %s", r.status, r.body)
		}
		stopProcess(t, p)
	})

	t.Run("default limit refuses the excess", func(t *testing.T) {
		p := startWrapped(t, wrap, fake.URL(), "--drain-delay", "0s")
		p.waitLog(t, `"max_connections":128`)
		waitReady(t, p)
		conns := dialMany(t, strings.TrimPrefix(p.url, "http://"), 300)
		served, refused := 0, 0
		for _, c := range conns {
			io.WriteString(c, "GET /live HTTP/1.1\r\nHost: mlgate\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			switch {
			case err == nil && resp.StatusCode == 200:
				served++
			case err == nil && resp.StatusCode == 503 && resp.Close,
				err != nil && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)):
				refused++ // closed at once; the 503 may be lost to the reset of the unread request
			default:
				t.Fatalf("connection answered %v, %v; want 200 or the limit's 503", resp, err)
			}
		}
		if served == 0 || served > 128 || served+refused != 300 {
			t.Errorf("300 connections: %d served, %d refused; want at most 128 served and the rest refused", served, refused)
		}
		p.waitLog(t, "connection limit reached")
		closeAll(conns)
		waitFor(t, "a request served once the connections are released", func() bool { return status(p.url+"/ready") == 200 })
		p.mu.Lock()
		logs := p.logs.String()
		p.mu.Unlock()
		if strings.Contains(logs, "too many open files") {
			t.Errorf("descriptors ran out under the default limit")
		}
		t.Logf("300 connections with 256 descriptors: %d served, %d refused at once", served, refused)
		stopProcess(t, p)
	})
}

// TestSlowloris holds 50 connections that send their headers a byte at a
// time while normal requests are sent: each slow connection is answered
// 408 and closed by mlgate at --read-header-timeout (the body timeout is
// an hour, so nothing else can close it), and every normal request is
// served meanwhile.
func TestSlowloris(t *testing.T) {
	fake := fakemlflow.New(t)
	p := startProcess(t, fake.URL(), "--read-header-timeout", "1s", "--read-timeout", "1h", "--idle-timeout", "1h")
	waitReady(t, p)
	addr := strings.TrimPrefix(p.url, "http://")
	const slow = 50
	closed := make(chan error, slow)
	var trickling sync.WaitGroup
	trickling.Add(slow)
	for range slow {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		serverClosed := make(chan struct{})
		go func() {
			first := true
			for _, b := range []byte("POST /invocations HTTP/1.1\r\nHost: mlgate\r\n" + strings.Repeat("X-Slow: trickle\r\n", 100)) {
				if _, err := c.Write([]byte{b}); err != nil {
					break
				}
				if first {
					trickling.Done()
					first = false
				}
				select {
				case <-serverClosed:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
		go func() {
			defer close(serverClosed)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				closed <- fmt.Errorf("no response: %w", err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusRequestTimeout {
				closed <- fmt.Errorf("status %d; want 408", resp.StatusCode)
				return
			}
			if _, err := br.ReadByte(); err == nil {
				closed <- errors.New("bytes after the 408's body; want the connection closed")
				return
			}
			closed <- nil
		}()
	}
	trickling.Wait()
	for i := range 50 {
		if r := postJSON(t, p.url+"/invocations", oneRow); r.status != 200 {
			t.Fatalf("request %d beside the slow connections: %d %s", i, r.status, r.body)
		}
	}
	for range slow {
		if err := <-closed; err != nil {
			t.Errorf("slow connection: %v", err)
		}
	}
	if r := postJSON(t, p.url+"/invocations", oneRow); r.status != 200 {
		t.Errorf("scoring after the slow connections: %d", r.status)
	}
}

// TestRequestSmuggling sends a request with both Content-Length and
// Transfer-Encoding and a request pipelined behind it: mlgate answers the
// first 400, closes the connection and never serves the second.
func TestRequestSmuggling(t *testing.T) {
	fake := fakemlflow.New(t)
	p := startProcess(t, fake.URL())
	waitReady(t, p)
	c, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /invocations HTTP/1.1\r\nHost: mlgate\r\nContent-Type: application/json\r\n"+
		"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+
		"POST /admin/refresh HTTP/1.1\r\nHost: mlgate\r\nContent-Length: 0\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !resp.Close {
		t.Errorf("ambiguous request: %d close=%v %s; want 400 and Connection: close", resp.StatusCode, resp.Close, body)
	}
	if second, err := http.ReadResponse(br, nil); err == nil {
		t.Errorf("the pipelined request was answered %d; want the connection closed", second.StatusCode)
	}
}

// TestAdminListener checks where the admin endpoints are: on the admin
// listener and not on the main one; a non-loopback admin address without a
// token stops mlgate at start with a message naming the setting; with a
// token it starts and requires it; an admin address equal to the main one
// shares its listener.
func TestAdminListener(t *testing.T) {
	fake := fakemlflow.New(t)
	p := startProcess(t, fake.URL(), "--drain-delay", "0s")
	waitReady(t, p)
	if got := status(p.url + "/admin/models"); got != 404 {
		t.Errorf("GET /admin/models on the main listener: %d; want 404", got)
	}
	if got := status(p.adminURL + "/admin/models"); got != 200 {
		t.Errorf("GET /admin/models on the admin listener: %d; want 200", got)
	}
	for _, path := range []string{"/metrics", "/ready"} {
		for _, base := range []string{p.url, p.adminURL} {
			if got := status(base + path); got != 200 {
				t.Errorf("GET %s%s: %d; want 200", base, path, got)
			}
		}
	}
	stopProcess(t, p)

	t.Run("non-loopback without a token", func(t *testing.T) {
		for _, args := range [][]string{
			{"--admin-listen", "0.0.0.0:0"},
			{"--listen", "0.0.0.0:0", "--admin-listen", "0.0.0.0:0"},
		} {
			var stderr strings.Builder
			code := run(append([]string{"serve", "--tracking-uri", fake.URL(), "--model", "models:/churn-gbm@champion"}, args...), io.Discard, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), "admin-listen") || !strings.Contains(stderr.String(), "admin-token") {
				t.Errorf("%v: exit %d, %q; want 2 and a message naming admin-listen and admin-token", args, code, stderr.String())
			}
		}
	})

	t.Run("non-loopback with a token file", func(t *testing.T) {
		tokenFile := filepath.Join(t.TempDir(), "admin-token")
		const token = "admin-token-0123456789"
		if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		q := startProcess(t, fake.URL(), "--admin-listen", "0.0.0.0:0", "--admin-token-file", tokenFile, "--drain-delay", "0s")
		waitReady(t, q)
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(q.adminURL, "http://"))
		admin := "http://127.0.0.1:" + port
		if got := status(admin + "/admin/models"); got != 401 {
			t.Errorf("GET /admin/models without the token: %d; want 401", got)
		}
		req, _ := http.NewRequest("GET", admin+"/admin/models", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET /admin/models with the token: %d; want 200", resp.StatusCode)
		}
		stopProcess(t, q)
	})

	t.Run("shared listener", func(t *testing.T) {
		addr := freeAddr(t)
		q := startProcess(t, fake.URL(), "--admin-listen", addr, "--listen", addr, "--drain-delay", "0s")
		waitReady(t, q)
		if q.adminURL != q.url {
			t.Errorf("admin_listen %s, listen %s; want one listener", q.adminURL, q.url)
		}
		if got := status(q.url + "/admin/models"); got != 200 {
			t.Errorf("GET /admin/models on the shared listener: %d; want 200", got)
		}
		stopProcess(t, q)
	})
}

// TestRefreshFlood sends 200 anonymous POST /admin/refresh back to back:
// the refresh rate limit (burst 3, then 1 a second) bounds the registry
// calls they cause, and the rest are answered 429 with Retry-After.
func TestRefreshFlood(t *testing.T) {
	fake := fakemlflow.New(t)
	p := startProcess(t, fake.URL(), "--poll-interval", "1h")
	waitReady(t, p)
	refresh := func() int {
		resp, err := http.Post(p.adminURL+"/admin/refresh", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Fatalf("429 without Retry-After")
		}
		return resp.StatusCode
	}
	before := len(fake.Requests())
	if code := refresh(); code != 200 {
		t.Fatalf("first refresh: %d", code)
	}
	perRefresh := len(fake.Requests()) - before

	before = len(fake.Requests())
	start := time.Now()
	codes := map[int]int{}
	for range 200 {
		codes[refresh()]++
	}
	elapsed := time.Since(start)
	calls := len(fake.Requests()) - before
	// The bucket had 2 refreshes left and gains one a second: the bound
	// follows from the time the flood took, whatever it was.
	allowed := 2 + int(elapsed/time.Second) + 1
	if codes[200] > allowed || codes[200]+codes[429] != 200 {
		t.Errorf("200 refreshes in %s: %v; want at most %d answered 200, the rest 429", elapsed.Round(time.Millisecond), codes, allowed)
	}
	if calls > codes[200]*perRefresh {
		t.Errorf("%d registry calls for %d refreshes of %d calls each", calls, codes[200], perRefresh)
	}
	t.Logf("200 refreshes in %s: statuses %v, %d registry calls (%d per refresh)", elapsed.Round(time.Millisecond), codes, calls, perRefresh)
}
