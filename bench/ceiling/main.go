// Command ceiling is the HTTP ceiling mlgate is measured against: a fasthttp
// server that answers POST /invocations with a fixed churn-gbm version 1
// prediction and mlgate's provenance headers, without parsing the request
// or running a model. It reads each request body in full (fasthttp does so
// before calling the handler), so it costs what mlgate's HTTP layer costs
// and nothing more: no server on this machine can answer faster with the
// same load generator.
//
// GET /ping and GET /health answer 200 so that the benchmark harness can
// tell when it is up. With --pprof it also serves Go's runtime profiles
// under /debug/pprof/, as mlgate does with its own --pprof, so that the two
// can be profiled alike. SIGINT or SIGTERM shuts it down.
//
// ceiling is a benchmark baseline, not part of mlgate. It imports fasthttp
// (with its pprofhandler) and bench/fixture only; nothing may import it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to serve on")
	pprof := flag.Bool("pprof", false, "serve Go's runtime profiles at /debug/pprof/")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ceiling: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if err := run(*listen, *pprof); err != nil {
		fmt.Fprintf(os.Stderr, "ceiling: %v\n", err)
		os.Exit(1)
	}
}

func run(listen string, pprof bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	srv := newServer(pprof)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", listen, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.ShutdownWithContext(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down: %w", err)
	}
	return <-served
}
