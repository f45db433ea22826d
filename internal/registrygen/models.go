package registrygen

import (
	"fmt"
	"maps"
	"sync"
	"testing"

	"github.com/mlgate/mlgate/internal/onnxgen"
)

// Kind names the internal/onnxgen fixture a version serves: one of the
// directories under testdata/models, or onnxgen.WideMLPName.
type Kind string

// Kinds for cold-start comparisons.
const (
	// Small is labelprobs: a 541-byte model (MatMul, Add, ArgMax, Softmax)
	// with a column signature x0, x1, x2 → label, probabilities, served
	// from dataframe_split requests. It loads and runs in microseconds.
	Small Kind = "labelprobs"
	// Larger is mlp256: a 256-512-512-1 MLP with a tensor signature and
	// about 1.5 MB of weights in an external-data file.
	Larger Kind = "mlp256"
	// Wide is widemlp: 34 MB of weights, generated on first use (about a
	// second).
	Wide Kind = onnxgen.WideMLPName
)

// ExpectedFile is the fixture file, not registered with the model, holding
// the outputs a runtime must produce for serving_input_example.json.
const ExpectedFile = "expected.json"

// Version is one model version to register.
type Version struct {
	// Kind is the fixture whose files the version holds; "" means Small.
	Kind        Kind
	Description string
}

// Model is one registered model: Versions[i] becomes version i+1, and each
// alias points at a version number.
type Model struct {
	Name        string
	Description string
	Versions    []Version
	Aliases     map[string]int
}

// Many returns n models named <prefix>-000, <prefix>-001, …, each with two
// Small versions: version 1 with the alias champion and version 2 with the
// alias challenger. All of them share the same files.
func Many(n int, prefix string) []Model {
	out := make([]Model, n)
	for i := range out {
		out[i] = Model{
			Name:     fmt.Sprintf("%s-%03d", prefix, i),
			Versions: []Version{{Kind: Small, Description: "champion"}, {Kind: Small, Description: "challenger"}},
			Aliases:  map[string]int{"champion": 1, "challenger": 2},
		}
	}
	return out
}

// fixtures are the stored fixtures by kind, built once.
var fixtures = sync.OnceValues(func() (map[Kind]map[string][]byte, error) {
	all, err := onnxgen.Fixtures()
	if err != nil {
		return nil, err
	}
	out := map[Kind]map[string][]byte{}
	for _, f := range all {
		out[Kind(f.Name)] = filesOf(f)
	}
	return out, nil
})

// wide is the widemlp fixture, built on first use.
var wide = sync.OnceValues(func() (map[string][]byte, error) {
	f, err := onnxgen.WideMLP()
	if err != nil {
		return nil, err
	}
	return filesOf(f), nil
})

func filesOf(f onnxgen.Fixture) map[string][]byte {
	m := make(map[string][]byte, len(f.Files))
	for _, file := range f.Files {
		m[file.Name] = file.Data
	}
	return m
}

// fixtureFiles returns every file of kind's fixture, expected.json
// included; the map and the bytes are shared.
func fixtureFiles(tb testing.TB, kind Kind) map[string][]byte {
	tb.Helper()
	if kind == "" {
		kind = Small
	}
	var files map[string][]byte
	var err error
	if kind == Wide {
		files, err = wide()
	} else {
		var all map[Kind]map[string][]byte
		if all, err = fixtures(); err == nil {
			files = all[kind]
		}
	}
	if err != nil {
		tb.Fatalf("registrygen: fixture %s: %v", kind, err)
	}
	if files == nil {
		tb.Fatalf("registrygen: no fixture %q", kind)
	}
	return files
}

// Files returns the files registered for a version of kind ("" is Small),
// by name: the MLflow model directory that mlflow.onnx.log_model writes
// (MLmodel, model.onnx and any external data, the input examples and the
// environment files), without expected.json. The byte slices are shared
// and must not be modified.
func Files(tb testing.TB, kind Kind) map[string][]byte {
	tb.Helper()
	files := maps.Clone(fixtureFiles(tb, kind))
	delete(files, ExpectedFile)
	return files
}

// Expected returns kind's expected.json (see testdata/models/README.md).
// The bytes are shared and must not be modified.
func Expected(tb testing.TB, kind Kind) []byte {
	tb.Helper()
	return fixtureFiles(tb, kind)[ExpectedFile]
}
