package main

import (
	"bufio"
	"encoding/json"
	"io"
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

// process is mlgate serve running as a child process (this test binary,
// re-executed as mlgate's main).
type process struct {
	cmd      *exec.Cmd
	url      string // the main listener
	adminURL string // the admin listener
	done     chan error
	logs     *strings.Builder
	mu       *sync.Mutex
}

func startProcess(t *testing.T, trackingURI string, extra ...string) *process {
	t.Helper()
	cfgFile := filepath.Join(t.TempDir(), "mlgate.yaml")
	os.WriteFile(cfgFile, []byte("routes:\n  - name: churn\n    model: models:/churn-gbm@champion\n"), 0o644)
	args := append([]string{"serve", "--config", cfgFile, "--tracking-uri", trackingURI,
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--cache-dir", t.TempDir(), "--log-format", "json"}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MLGATE_TEST_AS_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1), logs: &strings.Builder{}, mu: &sync.Mutex{}}
	addr := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			var rec struct {
				Msg         string `json:"msg"`
				Listen      string `json:"listen"`
				AdminListen string `json:"admin_listen"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "listening") {
				addr <- [2]string{rec.Listen, rec.AdminListen}
			}
		}
		p.done <- cmd.Wait()
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
		p.url, p.adminURL = "http://"+a[0], "http://"+a[1]
	case err := <-p.done:
		t.Fatalf("mlgate exited before listening: %v\n%s", err, p.logs.String())
	case <-time.After(20 * time.Second):
		t.Fatal("mlgate did not start listening")
	}
	return p
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

// TestSIGTERMUnderLoad sends SIGTERM while clients send continuously: the
// server reports not ready at once, keeps serving through the drain delay,
// closes its listener, finishes what it accepted, and exits 0 within the
// deadline. No request sent before the listener closed fails, and no
// request gets a 5xx.
func TestSIGTERMUnderLoad(t *testing.T) {
	fake := fakemlflow.New(t)
	const drain, shutdown = time.Second, 5 * time.Second
	p := startProcess(t, fake.URL(), "--drain-delay", drain.String(), "--shutdown-timeout", shutdown.String())
	for status(p.url+"/ready") != 200 {
		time.Sleep(10 * time.Millisecond)
	}

	type result struct {
		start  time.Time
		status int
		err    error
	}
	var mu sync.Mutex
	var results []result
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := loadClient(8)
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				resp, err := client.Post(p.url+"/invocations", "application/json", strings.NewReader(oneRow))
				r := result{start: start, err: err}
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					r.status = resp.StatusCode
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				if err != nil {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	term := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	readyDuringDrain := status(p.url + "/ready")
	var exitErr error
	select {
	case exitErr = <-p.done:
	case <-time.After(drain + shutdown + 10*time.Second):
		t.Fatal("mlgate did not exit after SIGTERM")
	}
	exited := time.Since(term)
	close(stop)
	wg.Wait()
	client.CloseIdleConnections()

	if exitErr != nil {
		t.Errorf("exit after SIGTERM: %v; want status 0", exitErr)
	}
	if readyDuringDrain != 503 {
		t.Errorf("/ready during the drain: %d; want 503", readyDuringDrain)
	}
	closed := term.Add(drain)
	var before, ok, refused, errored int
	for _, r := range results {
		if r.status >= 500 {
			t.Errorf("request got %d", r.status)
		}
		if r.start.Before(closed.Add(-100 * time.Millisecond)) {
			before++
			if r.err != nil || r.status != 200 {
				errored++
				if errored <= 5 {
					t.Errorf("request sent %s after SIGTERM (listener open until %s) failed: %d %v",
						r.start.Sub(term).Round(time.Millisecond), drain, r.status, r.err)
				}
			}
		}
		switch {
		case r.status == 200:
			ok++
		case r.err != nil:
			refused++
		}
	}
	t.Logf("SIGTERM: %d requests sent before the listener closed, %d failed; %d ok in all, %d refused after it closed; exited %s after SIGTERM (drain %s)",
		before, errored, ok, refused, exited.Round(time.Millisecond), drain)
	if exited > drain+shutdown {
		t.Errorf("exited %s after SIGTERM; want within drain + shutdown = %s", exited, drain+shutdown)
	}
	if before == 0 {
		t.Fatal("no requests before the drain ended")
	}
}
