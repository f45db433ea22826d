// Command genmodels writes mlgate's generated ONNX model fixtures: one MLflow
// model directory per fixture, plus README.md, under -out. With -widemlp it
// writes the widemlp benchmark fixture, which is not stored in the
// repository, into that directory instead. The output is the same on every
// run.
//
//	go run ./internal/onnxgen/cmd/genmodels -out testdata/models
//	go run ./internal/onnxgen/cmd/genmodels -widemlp /tmp/widemlp
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mlgate/mlgate/internal/onnxgen"
)

func main() {
	out := flag.String("out", "", "directory to write the fixtures into")
	wide := flag.String("widemlp", "", "directory to write the widemlp benchmark fixture into")
	flag.Parse()
	if (*out == "") == (*wide == "") || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: genmodels -out DIR | -widemlp DIR")
		os.Exit(2)
	}
	if err := write(*out, *wide); err != nil {
		fmt.Fprintln(os.Stderr, "genmodels:", err)
		os.Exit(1)
	}
}

func write(out, wide string) error {
	if out != "" {
		return onnxgen.WriteFixtures(out)
	}
	f, err := onnxgen.WideMLP()
	if err != nil {
		return err
	}
	return onnxgen.WriteDir(wide, f.Files)
}
