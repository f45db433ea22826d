package main

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

// command is an mlgate subcommand running as a child process (this test
// binary re-executed as mlgate's main).
type command struct {
	cmd  *exec.Cmd
	done chan error
	mu   sync.Mutex
	out  bytes.Buffer // stdout and stderr
}

func startCommand(t *testing.T, env []string, args ...string) *command {
	t.Helper()
	c := &command{cmd: exec.Command(os.Args[0], args...), done: make(chan error, 1)}
	c.cmd.Env = append(append(os.Environ(), "MLGATE_TEST_AS_MAIN=1"), env...)
	c.cmd.Stdout, c.cmd.Stderr = c, c
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("mlgate %s output:\n%s", args[0], c.output())
		}
	})
	return c
}

func (c *command) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *command) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// wait returns the exit code once the process has exited. The backstop
// only keeps a broken test from hanging the suite.
func (c *command) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-c.done:
		var exit *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &exit):
			return exit.ExitCode()
		default:
			t.Fatalf("wait: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("mlgate did not exit; output:\n%s", c.output())
	}
	return -1
}

// TestResolveStopsOnSIGTERM starts `mlgate resolve` against a registry
// that holds its call, and against an artifact store whose MLmodel stalls,
// with every timeout at an hour: only the signal can end it. It must exit
// non-zero at once, saying it was interrupted. (Before: a stalled MLmodel
// read ended in a printed "signature unknown: context canceled" and exit
// status 0.)
func TestResolveStopsOnSIGTERM(t *testing.T) {
	tests := []struct {
		name  string
		setup func(fake *fakemlflow.Server) <-chan struct{} // closed once the call is in progress
	}{
		{"registry call hangs", func(fake *fakemlflow.Server) <-chan struct{} {
			fake.SetDown(fakemlflow.Hang)
			return fake.Held()
		}},
		{"MLmodel download stalls", func(fake *fakemlflow.Server) <-chan struct{} {
			fake.SetFileBody("churn-gbm", "1", "MLmodel", fakemlflow.Stall)
			mlmodel := "/api/2.0/mlflow-artifacts/artifacts/" + fake.ArtifactDir("churn-gbm", "1") + "/MLmodel"
			held := make(chan struct{})
			go func() {
				defer close(held)
				for backstop := time.Now().Add(2 * time.Minute); time.Now().Before(backstop); time.Sleep(time.Millisecond) {
					for _, r := range fake.Requests() {
						if r.Method == http.MethodGet && r.Path == mlmodel {
							return
						}
					}
				}
			}()
			return held
		}},
	}
	for _, tt := range tests {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
			t.Run(tt.name+"/"+sig.String(), func(t *testing.T) {
				fake := fakemlflow.New(t)
				held := tt.setup(fake)
				c := startCommand(t, nil, "resolve", "--tracking-uri", fake.URL(), "--cache-dir", t.TempDir(),
					"--registry-timeout", "1h", "--download-timeout", "1h", "--min-download-rate", "-1", "models:/churn-gbm@champion")
				select {
				case <-held:
				case err := <-c.done:
					t.Fatalf("mlgate resolve exited before its call was held: %v\n%s", err, c.output())
				}
				if err := c.cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				code := c.wait(t)
				out := c.output()
				if code == 0 || !strings.Contains(out, "mlgate resolve: interrupted while resolving models:/churn-gbm@champion") {
					t.Errorf("after %v: exit status %d, output %q; want non-zero and the interruption explained", sig, code, out)
				}
				t.Logf("exit status %d: %s", code, strings.TrimSpace(out))
			})
		}
	}
}

// TestStartupDownloadBounded starts mlgate serve on a version whose
// model.onnx trickles forever under a listing that promises 1 GiB, with the
// minimum rate off: only the download deadline can end the start, which
// then fails with the reason. (Before: the start hung as long as the
// trickle lasted.)
func TestStartupDownloadBounded(t *testing.T) {
	fake := fakemlflow.New(t)
	v := fake.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: fake.Files("churn-gbm", "1"),
		ListedSizes: map[string]int64{"model.onnx": 1 << 30}})
	fake.SetFileBody("churn-gbm", v, "model.onnx", fakemlflow.Trickle)
	fake.SetAlias("churn-gbm", "champion", v)
	p := startProcess(t, fake.URL(), "--download-timeout", "2s", "--min-download-rate", "-1")
	var err error
	select {
	case err = <-p.done:
	case <-time.After(2 * time.Minute):
		t.Fatal("mlgate did not give up its start")
	}
	p.mu.Lock()
	logs := p.logs.String()
	p.mu.Unlock()
	if err == nil || !strings.Contains(logs, "not finished within 2s (download-timeout)") || !strings.Contains(logs, "no cached version") {
		t.Errorf("exit %v; want a failed start explained by the download deadline; logs:\n%s", err, logs)
	}
}

// TestPasswordsRedacted starts mlgate serve and mlgate resolve with a
// password in the tracking or registry URI, by flag and by environment:
// the start fails and nothing printed shows the password. (Before: the
// start-up error quoted the URI whole.)
func TestPasswordsRedacted(t *testing.T) {
	const uri = "http://alice:pw-s3cret@127.0.0.1:1"
	runs := []struct {
		env  []string
		args []string
	}{
		{nil, []string{"serve", "--tracking-uri", uri, "--model", "models:/churn-gbm@champion", "--listen", "127.0.0.1:0"}},
		{[]string{"MLFLOW_TRACKING_URI=" + uri}, []string{"serve", "--model", "models:/churn-gbm@champion", "--listen", "127.0.0.1:0"}},
		{[]string{"MLFLOW_REGISTRY_URI=" + uri}, []string{"serve", "--tracking-uri", "http://127.0.0.1:1", "--model", "models:/churn-gbm@champion", "--listen", "127.0.0.1:0"}},
		{nil, []string{"resolve", "--tracking-uri", uri, "models:/churn-gbm@champion"}},
		{[]string{"MLFLOW_TRACKING_URI=" + uri}, []string{"resolve", "models:/churn-gbm@champion"}},
	}
	for _, run := range runs {
		c := startCommand(t, run.env, append(run.args, "--cache-dir", t.TempDir())...)
		code := c.wait(t)
		out := c.output()
		if code == 0 || strings.Contains(out, "pw-s3cret") || strings.Contains(out, "alice") || !strings.Contains(out, "redacted@127.0.0.1:1") {
			t.Errorf("%v %v: exit status %d, output:\n%s\nwant a failure showing the URI as http://redacted@127.0.0.1:1", run.env, run.args, code, out)
		}
	}
}
