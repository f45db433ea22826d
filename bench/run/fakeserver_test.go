package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlgate/mlgate/bench/fixture"
)

// fakeServerEnv makes the test binary, started as a subprocess, act as a
// server: "ok" serves like the baselines, "crash" fails at start-up. With
// "resolve" it acts as `mlgate resolve`, printing fakeResolveEnv's value,
// and with "resolve-fail" it prints that to standard error and fails.
const (
	fakeServerEnv  = "MLGATE_BENCH_FAKE_SERVER"
	fakeResolveEnv = "MLGATE_BENCH_FAKE_RESOLVE"
)

// fakeServer runs the test binary as a server listening on the address
// after --listen, until SIGTERM.
func fakeServer(mode string, args []string) int {
	switch mode {
	case "crash":
		fmt.Fprintln(os.Stderr, "fake server: cannot load the model")
		return 3
	case "resolve":
		fmt.Println(os.Getenv(fakeResolveEnv))
		return 0
	case "resolve-fail":
		fmt.Fprintln(os.Stderr, os.Getenv(fakeResolveEnv))
		return 1
	}
	addr := ""
	for i, a := range args {
		if a == "--listen" && i+1 < len(args) {
			addr = args[i+1]
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("POST /invocations", func(w http.ResponseWriter, _ *http.Request) {
		for _, h := range fixture.Headers() {
			w.Header().Set(h.Name, h.Value)
		}
		w.Write([]byte(fixture.FirstRowResponse))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	srv.Close()
	fmt.Println("fake server: stopped")
	return 0
}

func fakeSpec(t *testing.T, mode string) serverSpec {
	t.Helper()
	t.Setenv(fakeServerEnv, mode)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return serverSpec{name: "fake", argv: []string{exe, "--listen", addrPlaceholder}}
}

func TestStartServer(t *testing.T) {
	log := filepath.Join(t.TempDir(), "fake.log")
	p, err := startServer(context.Background(), fakeSpec(t, "ok"), t.TempDir(), log, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.url, "http://127.0.0.1:") {
		t.Errorf("url: got %q; want a loopback address", p.url)
	}
	if err := checkAnswer(context.Background(), p.url); err != nil {
		t.Errorf("checkAnswer: %v", err)
	}
	if _, ok := cpuTime(p.cmd.Process.Pid); !ok {
		t.Error("cpuTime of the server: not readable")
	}
	if err := p.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != "fake server: stopped\n" {
		t.Errorf("log: got %q; want the server's output", got)
	}
}

func TestStartServerCrash(t *testing.T) {
	log := filepath.Join(t.TempDir(), "fake.log")
	_, err := startServer(context.Background(), fakeSpec(t, "crash"), t.TempDir(), log, 30*time.Second)
	if !errors.Is(err, errExited) {
		t.Fatalf("got %v; want %v", err, errExited)
	}
	if !strings.Contains(err.Error(), "fake server: cannot load the model") {
		t.Errorf("error %q lacks the server's last log lines", err)
	}
}

func TestStartServerMissingBinary(t *testing.T) {
	spec := serverSpec{name: serverMlgate, argv: []string{filepath.Join(t.TempDir(), "mlgate")}}
	_, err := startServer(context.Background(), spec, t.TempDir(), filepath.Join(t.TempDir(), "log"), time.Second)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "make build") {
		t.Errorf("got %v; want a missing-file error that says how to build it", err)
	}
}
