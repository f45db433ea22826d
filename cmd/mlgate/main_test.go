package main

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/mlgate/mlgate/infer"
)

func TestMain(m *testing.M) {
	// Re-executed by lifecycle tests as the mlgate binary itself, so that
	// signals reach a real process.
	if os.Getenv("MLGATE_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	lib, err := infer.FindLibrary("")
	if err == nil {
		err = infer.Init(lib)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mlgate tests need ONNX Runtime (run `make onnxruntime`): %v\n", err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m,
		// fasthttp's process-wide date ticker, and a stopped worker pool's
		// cleaner that sleeps out its idle period before it notices.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		// net/http's idle keep-alive connections of the test clients.
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	)
}
