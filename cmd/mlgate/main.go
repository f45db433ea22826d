// Command mlgate serves MLflow models through ONNX Runtime: it resolves
// models:/name@alias through the MLflow registry, loads the version, and
// serves MLflow's scoring protocol with provenance headers.
//
// Subcommands: serve, resolve, loadtest, version. main is a lifecycle
// script: it parses configuration, wires the packages together, and stops
// them in reverse order.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `mlgate serves MLflow models through ONNX Runtime.

Usage:
  mlgate serve    [flags]            serve models:/ URIs (see mlgate serve -h)
  mlgate resolve  [flags] models:/…  print what a models:/ URI resolves to
  mlgate loadtest [flags]            drive load at a running mlgate
  mlgate healthcheck [--config FILE] [--url URL]
                                     exit 0 when /ready of the configured
                                     listener (or URL) answers 200
  mlgate version                     print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	// SIGTERM and SIGINT end every subcommand through ctx; serve also
	// reloads on SIGHUP.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "resolve":
		return cmdResolve(ctx, args[1:], stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(args[1:], stdout, stderr)
	case "loadtest":
		return cmdLoadtest(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "mlgate %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "mlgate: unknown command %q\n\n%s", args[0], usage)
	return 2
}
