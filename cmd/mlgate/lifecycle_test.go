package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

// process is mlgate serve running as a child process (this test binary,
// re-executed as mlgate's main).
type process struct {
	cmd      *exec.Cmd
	url      string // the main listener
	adminURL string // the admin listener
	grpcAddr string // the gRPC listener, with --grpc-listen
	done     chan error
	logs     *strings.Builder
	mu       *sync.Mutex
	logged   chan struct{} // closed and replaced, under mu, on each log line
	exited   chan struct{} // closed when the process has exited
}

func startProcess(t *testing.T, trackingURI string, extra ...string) *process {
	t.Helper()
	return startWrapped(t, nil, trackingURI, extra...)
}

// startWrapped starts mlgate serve through wrap (a command such as
// prlimit and its arguments, which then executes mlgate), or directly when
// wrap is empty, and waits until it listens.
func startWrapped(t *testing.T, wrap []string, trackingURI string, extra ...string) *process {
	t.Helper()
	cfgFile := filepath.Join(t.TempDir(), "mlgate.yaml")
	os.WriteFile(cfgFile, []byte("routes:\n  - name: churn\n    model: models:/churn-gbm@champion\n"), 0o644)
	args := append([]string{"serve", "--config", cfgFile, "--tracking-uri", trackingURI,
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--cache-dir", t.TempDir(), "--log-format", "json"}, extra...)
	argv := append(append(append([]string{}, wrap...), os.Args[0]), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "MLGATE_TEST_AS_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1), logs: &strings.Builder{}, mu: &sync.Mutex{},
		logged: make(chan struct{}), exited: make(chan struct{})}
	addr := make(chan [3]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			close(p.logged)
			p.logged = make(chan struct{})
			p.mu.Unlock()
			var rec struct {
				Msg         string `json:"msg"`
				Listen      string `json:"listen"`
				AdminListen string `json:"admin_listen"`
				GRPCListen  string `json:"grpc_listen"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "listening") {
				addr <- [3]string{rec.Listen, rec.AdminListen, rec.GRPCListen}
			}
		}
		err := cmd.Wait()
		close(p.exited)
		p.done <- err
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("mlgate logs:\n%s", p.logs.String())
			p.mu.Unlock()
		}
	})
	select {
	case a := <-addr:
		p.url, p.adminURL, p.grpcAddr = "http://"+a[0], "http://"+a[1], a[2]
	case err := <-p.done:
		t.Fatalf("mlgate exited before listening: %v\n%s", err, p.logs.String())
	case <-time.After(20 * time.Second):
		t.Fatal("mlgate did not start listening")
	}
	return p
}

// waitLog waits until a log line contains every one of subs, and returns
// that line. It fails the test if the process exits first.
func (p *process) waitLog(t *testing.T, subs ...string) string {
	t.Helper()
	seen := 0
	for {
		p.mu.Lock()
		text, next := p.logs.String(), p.logged
		p.mu.Unlock()
		lines := strings.Split(text, "\n")
		for ; seen < len(lines)-1; seen++ {
			if containsAll(lines[seen], subs) {
				return lines[seen]
			}
		}
		select {
		case <-next:
		case <-p.exited:
			t.Fatalf("mlgate exited before logging %q", subs)
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// running reports whether the process has not exited.
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func status(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestReadinessUntilWarm checks that /ready (and MLflow's /health) answer
// 503 while the model is not loaded and /live 200: the registry holds
// mlgate's first call unanswered, so the process is seen listening but not
// ready, and then fails its start when the call times out. A second start
// with the registry up turns ready once the model is warm.
func TestReadinessUntilWarm(t *testing.T) {
	fake := fakemlflow.New(t)
	fake.SetDown(fakemlflow.Hang)
	p := startProcess(t, fake.URL(), "--registry-timeout", "3s")
	// Wait until the registry holds mlgate's first call: from then on, and
	// until that call times out, the model cannot be loaded.
	select {
	case <-fake.Held():
	case err := <-p.done:
		t.Fatalf("mlgate exited before calling the registry: %v", err)
	}
	for _, path := range []string{"/ready", "/health"} {
		if got := status(p.url + path); got != 503 {
			t.Errorf("%s before the model is loaded: %d; want 503", path, got)
		}
	}
	if got := status(p.url + "/live"); got != 200 {
		t.Errorf("/live while loading: %d; want 200", got)
	}
	// The held call times out after --registry-timeout. With no cached
	// version to fall back on, the start fails, with the reason in the
	// log. The registry stays down until then, so no later call can load.
	err := <-p.done
	if err == nil {
		t.Fatal("mlgate exited 0 after failing to load its model")
	}
	p.mu.Lock()
	logs := p.logs.String()
	p.mu.Unlock()
	if !strings.Contains(logs, "no cached version") {
		t.Errorf("logs do not explain the failed start:\n%s", logs)
	}

	fake.SetUp()
	q := startProcess(t, fake.URL())
	deadline := time.Now().Add(20 * time.Second)
	for status(q.url+"/ready") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := postJSON(t, q.url+"/invocations", oneRow); got.status != 200 {
		t.Errorf("scoring once ready: %d %s", got.status, got.body)
	}
}

// keepAlive is an HTTP/1.1 client that keeps one connection open while the
// server lets it, opens a new one when the server says Connection: close,
// and never retries a request: a request that fails on an open connection
// is lost.
type keepAlive struct {
	addr   string
	c      net.Conn
	br     *bufio.Reader
	served int // requests answered on the current connection
}

// errRefused is a connection the server did not accept: the listener is
// closed.
var errRefused = errors.New("connection refused")

// do sends one request. It returns errRefused when no connection could be
// opened, any other error when the request was lost on an open
// connection, and otherwise the response (its body read).
func (k *keepAlive) do(raw string) (*http.Response, error) {
	if k.c == nil {
		c, err := net.Dial("tcp", k.addr)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				return nil, errRefused
			}
			return nil, err
		}
		k.c, k.br, k.served = c, bufio.NewReader(c), 0
	}
	fail := func(err error) (*http.Response, error) {
		k.close()
		return nil, err
	}
	if _, err := io.WriteString(k.c, raw); err != nil {
		return fail(fmt.Errorf("write after %d requests on the connection: %w", k.served, err))
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return fail(fmt.Errorf("read after %d requests on the connection: %w", k.served, err))
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fail(fmt.Errorf("body after %d requests on the connection: %w", k.served, err))
	}
	k.served++
	if resp.Close {
		k.close()
	}
	return resp, nil
}

func (k *keepAlive) close() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// TestSIGTERMUnderLoad sends SIGTERM while eight keep-alive clients that
// never retry send scoring requests back to back, and a ninth polls
// /ready: while draining every response says Connection: close, so the
// clients move to new connections, and once the listener closes they are
// refused. No request that got a connection is lost or gets a 5xx, /ready
// turns 503 and stays so, and mlgate exits 0 (its shutdown finished within
// --shutdown-timeout).
func TestSIGTERMUnderLoad(t *testing.T) {
	fake := fakemlflow.New(t)
	const drain, shutdown = time.Second, 5 * time.Second
	p := startProcess(t, fake.URL(), "--drain-delay", drain.String(), "--shutdown-timeout", shutdown.String())
	for status(p.url+"/ready") != 200 {
		time.Sleep(10 * time.Millisecond)
	}
	addr := strings.TrimPrefix(p.url, "http://")
	scoring := fmt.Sprintf("POST /invocations HTTP/1.1\r\nHost: mlgate\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(oneRow), oneRow)
	ready := "GET /ready HTTP/1.1\r\nHost: mlgate\r\n\r\n"

	type tally struct {
		closed, refused int
		lost            []error
		statuses        map[int]int // of scoring responses
		readiness       []int       // /ready statuses, in order
	}
	var mu sync.Mutex
	total := tally{statuses: map[int]int{}}
	var started sync.WaitGroup
	var wg sync.WaitGroup
	client := func(raw string, isReady bool) {
		defer wg.Done()
		k := &keepAlive{addr: addr}
		defer k.close()
		first := true
		for {
			resp, err := k.do(raw)
			if first {
				started.Done()
				first = false
			}
			mu.Lock()
			switch {
			case errors.Is(err, errRefused):
				total.refused++
				mu.Unlock()
				return // the listener is closed
			case err != nil:
				total.lost = append(total.lost, err)
			default:
				if resp.Close {
					total.closed++
				}
				if isReady {
					total.readiness = append(total.readiness, resp.StatusCode)
				} else {
					total.statuses[resp.StatusCode]++
				}
			}
			mu.Unlock()
		}
	}
	started.Add(9)
	wg.Add(9)
	for range 8 {
		go client(scoring, false)
	}
	go client(ready, true)
	started.Wait()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	exitErr := <-p.done
	if exitErr != nil {
		t.Errorf("exit after SIGTERM: %v; want status 0", exitErr)
	}

	for i, err := range total.lost {
		if i < 5 {
			t.Errorf("request lost on an open connection: %v", err)
		}
	}
	for code, n := range total.statuses {
		if code != 200 {
			t.Errorf("%d scoring responses with status %d; want 200", n, code)
		}
	}
	r := total.readiness
	turned := slices.Index(r, 503)
	if turned < 0 || slices.ContainsFunc(r[turned:], func(c int) bool { return c != 503 }) {
		t.Errorf("/ready statuses %v; want 200s, then only 503 once draining", compact(r))
	}
	if total.closed == 0 {
		t.Errorf("no response said Connection: close while draining")
	}
	t.Logf("SIGTERM under load: scoring statuses %v, %d responses with Connection: close, %d lost, %d clients refused at the end; /ready %v",
		total.statuses, total.closed, len(total.lost), total.refused, compact(r))
}

// compact shortens a status sequence to runs: [200 x41, 503 x7].
func compact(s []int) []string {
	var out []string
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == s[i] {
			j++
		}
		out = append(out, fmt.Sprintf("%d x%d", s[i], j-i))
		i = j
	}
	return out
}
