// Command genmodels writes mlgate's generated ONNX model fixtures: one MLflow
// model directory per fixture, plus README.md, under -out. The output is the
// same on every run.
//
//	go run ./internal/onnxgen/cmd/genmodels -out testdata/models
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mlgate/mlgate/internal/onnxgen"
)

func main() {
	out := flag.String("out", "", "directory to write the fixtures into (required)")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: genmodels -out DIR")
		os.Exit(2)
	}
	if err := onnxgen.WriteFixtures(*out); err != nil {
		fmt.Fprintln(os.Stderr, "genmodels:", err)
		os.Exit(1)
	}
}
