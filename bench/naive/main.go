// Command naive is the baseline mlgate is measured against: the churn-gbm
// version 1 scoring server a team would write in an afternoon. It uses
// net/http, decodes MLflow's dataframe_split request with encoding/json into
// a struct, builds a new ONNX Runtime tensor for every request, runs one
// DynamicAdvancedSession shared by all requests, destroys the tensors, and
// encodes {"predictions": [{"probability": p}, ...]} with encoding/json,
// sending the same provenance headers as mlgate. It is correct and
// idiomatic; it is neither deliberately slow nor optimised.
//
// To compare serving paths rather than thread settings, ONNX Runtime runs
// with mlgate's defaults: one intra-op thread, one inter-op thread, and
// spinning off. It loads the same library and model file as mlgate: the
// ONNX Runtime library from $MLGATE_ONNXRUNTIME_LIB, by default
// .cache/onnxruntime/1.24.1/libonnxruntime.so.1 under the repository root
// (the directory holding go.mod, found from the working directory), and
// testdata/mlflow-real/models/churn-gbm/v1/model.onnx there unless --model
// says otherwise.
//
// Endpoints: POST /invocations; GET /ping and GET /health (200 once the
// model is loaded); GET /version (the ONNX Runtime version). SIGINT or
// SIGTERM shuts it down.
//
// naive is a benchmark baseline, not part of mlgate. It is a cgo program
// (through onnxruntime_go) outside infer/, which mlgate's own packages never
// are; it imports bench/fixture and no other mlgate package, and nothing may
// import it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8082", "address to serve on")
	modelPath := flag.String("model", "", "ONNX model file (default testdata/mlflow-real/models/churn-gbm/v1/model.onnx under the repository root)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "naive: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if err := run(*listen, *modelPath); err != nil {
		fmt.Fprintf(os.Stderr, "naive: %v\n", err)
		os.Exit(1)
	}
}

func run(listen, modelPath string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	lib, err := libraryPath()
	if err != nil {
		return err
	}
	if modelPath == "" {
		root, err := repoRoot()
		if err != nil {
			return fmt.Errorf("model file: %w", err)
		}
		modelPath = defaultModelPath(root)
	}
	if err := initRuntime(lib); err != nil {
		return err
	}
	m, err := loadModel(modelPath)
	if err != nil {
		return err
	}
	defer m.Close()

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	srv := &http.Server{
		Handler:           newMux(m),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", listen, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", listen, err)
	}
	return nil
}
