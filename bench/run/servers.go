package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverSpec says how to start one server.
type serverSpec struct {
	name string
	// argv is the command line; addrPlaceholder in it is replaced by the
	// loopback address the server must listen on.
	argv []string
}

// addrPlaceholder in a serverSpec's argv stands for the listen address,
// and grpcAddrPlaceholder for a second one, mlgate's gRPC listener.
const (
	addrPlaceholder     = "ADDR"
	grpcAddrPlaceholder = "GRPCADDR"
)

// process is a running server.
type process struct {
	name string
	// url is its base URL, http://127.0.0.1:port.
	url string
	// grpcAddr is its gRPC listener's address, when its argv has
	// grpcAddrPlaceholder.
	grpcAddr string
	cmd      *exec.Cmd
	logPath  string
	log      *os.File
	// exited is closed when the process has exited; waitErr is then its
	// exit status.
	exited  chan struct{}
	waitErr error
	ready   time.Duration
	// exitNoted is set by the harness once it has recorded an early exit.
	exitNoted bool
}

// startServer starts spec on a free loopback port with dir as its working
// directory, its output going to logPath, and waits until it answers ready.
// After a successful start the caller must call stop; after an error the
// process is already stopped.
func startServer(ctx context.Context, spec serverSpec, dir, logPath string, readyTimeout time.Duration) (*process, error) {
	if _, err := os.Stat(spec.argv[0]); err != nil {
		return nil, fmt.Errorf("server %s: %w (`make build` builds bin/mlgate, scripts/bench.sh bin/ceiling and bin/naive)", spec.name, err)
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", spec.name, err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	grpcAddr := ""
	if slices.Contains(spec.argv, grpcAddrPlaceholder) {
		gport, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("server %s: %w", spec.name, err)
		}
		grpcAddr = "127.0.0.1:" + strconv.Itoa(gport)
	}
	argv := make([]string, len(spec.argv))
	for i, a := range spec.argv {
		if a == grpcAddrPlaceholder {
			argv[i] = grpcAddr
			continue
		}
		argv[i] = strings.ReplaceAll(a, addrPlaceholder, addr)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("server %s: log: %w", spec.name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttrs()
	p := &process{name: spec.name, url: "http://" + addr, grpcAddr: grpcAddr, cmd: cmd, logPath: logPath, log: logf, exited: make(chan struct{})}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("server %s: start: %w", spec.name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	if err := waitReady(ctx, p.url, p.exited, readyTimeout); err != nil {
		p.stop()
		return nil, fmt.Errorf("server %s (%s): %w\n%s", spec.name, strings.Join(argv, " "), err, tail(logPath, 20))
	}
	p.ready = time.Since(start)
	return p, nil
}

// exitStatus reports whether the process has exited and, if so, how:
// "exit status 0", "signal: terminated".
func (p *process) exitStatus() (string, bool) {
	select {
	case <-p.exited:
		if p.waitErr == nil {
			return "exit status 0", true
		}
		return p.waitErr.Error(), true
	default:
		return "", false
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// errExited reports a server that exited before it was ready.
var errExited = errors.New("exited before it was ready")

// waitReady polls base's GET /ready until it answers 200; when /ready
// answers 404 the server has no readiness endpoint, and GET /health is
// polled instead. It fails when exited is closed, when timeout passes, or
// when ctx ends.
func waitReady(ctx context.Context, base string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	path := "/ready"
	var last string
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		status, err := get(ctx, client, base+path)
		switch {
		case err != nil:
			if ctx.Err() == nil { // else the poll was cut short by the deadline
				last = err.Error()
			}
		case status == http.StatusOK:
			return nil
		case status == http.StatusNotFound && path == "/ready":
			path = "/health"
			continue
		default:
			last = fmt.Sprintf("GET %s: %d", path, status)
		}
		select {
		case <-exited:
			return errExited
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("not ready after %s (last: %s)", timeout, last)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func get(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// stop sends SIGTERM, waits up to ten seconds for the process to exit, then
// kills it. It returns the exit error unless the process ended because of
// the signal or exited cleanly.
func (p *process) stop() error {
	defer p.log.Close()
	select {
	case <-p.exited:
		return exitErr(p.name, p.waitErr)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("server %s: %w", p.name, err)
	}
	select {
	case <-p.exited:
		return exitErr(p.name, p.waitErr)
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("server %s: killed after ignoring SIGTERM for 10s", p.name)
	}
}

// exitErr treats a clean exit and death by SIGTERM as success.
func exitErr(name string, err error) error {
	var ee *exec.ExitError
	if err == nil {
		return nil
	}
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return fmt.Errorf("server %s: %w", name, err)
}

// tail returns the last n lines of the file at path, indented, for error
// messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "  (no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + path + ":\n    " + strings.Join(lines, "\n    ")
}
