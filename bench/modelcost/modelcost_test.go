package modelcost

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlgate/mlgate/internal/onnxgen"
	"github.com/mlgate/mlgate/internal/testutil"
)

// libraryEnv names the ONNX Runtime shared library, as it does for mlgate.
const libraryEnv = "MLGATE_ONNXRUNTIME_LIB"

var initOnce = sync.OnceValue(func() error {
	lib := os.Getenv(libraryEnv)
	if lib == "" {
		root, err := testutil.FindRepoRoot()
		if err != nil {
			return err
		}
		lib = filepath.Join(root, ".cache", "onnxruntime", "1.24.1", "libonnxruntime.so.1")
	}
	if _, err := os.Stat(lib); err != nil {
		return fmt.Errorf("onnx runtime library (set %s or run make onnxruntime): %w", libraryEnv, err)
	}
	ort.SetSharedLibraryPath(lib)
	return ort.InitializeEnvironment(ort.WithLogLevelError())
})

// model is one model file and its input width; every benchmark model has
// one float32 input "input" [N,width] and one output "probability" [N,1].
type model struct {
	name  string
	dir   string
	width int
}

// wideDir generates widemlp once per test binary into a directory that
// outlives the tests that use it; the caller of cleanupWide removes it.
var wideDir = sync.OnceValues(func() (string, error) {
	f, err := onnxgen.WideMLP()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "mlgate-modelcost-")
	if err != nil {
		return "", err
	}
	if err := onnxgen.WriteDir(dir, f.Files); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if dir, err := wideDir(); err == nil {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

func models(tb testing.TB) []model {
	tb.Helper()
	wide, err := wideDir()
	if err != nil {
		tb.Fatal(err)
	}
	return []model{
		{"mlp256", testutil.Path(tb, "testdata", "models", "mlp256"), 256},
		{onnxgen.WideMLPName, wide, 64},
	}
}

// open opens dir's model.onnx with mlgate's default session settings.
func open(tb testing.TB, dir string) *ort.DynamicAdvancedSession {
	tb.Helper()
	if err := initOnce(); err != nil {
		tb.Fatal(err)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		tb.Fatal(err)
	}
	defer opts.Destroy()
	for _, err := range []error{
		opts.SetIntraOpNumThreads(1),
		opts.SetInterOpNumThreads(1),
		opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"),
		opts.AddSessionConfigEntry("session.inter_op.allow_spinning", "0"),
	} {
		if err != nil {
			tb.Fatal(err)
		}
	}
	s, err := ort.NewDynamicAdvancedSession(filepath.Join(dir, "model.onnx"), []string{"input"}, []string{"probability"}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Destroy() })
	return s
}

// call runs s once on rows rows of x (row-major, width values a row) and
// returns the probabilities.
type call struct {
	s      *ort.DynamicAdvancedSession
	in     *ort.Tensor[float32]
	out    *ort.Tensor[float32]
	inputs []ort.Value
	output []ort.Value
}

func newCall(tb testing.TB, s *ort.DynamicAdvancedSession, x []float32, rows, width int) *call {
	tb.Helper()
	in, err := ort.NewTensor(ort.NewShape(int64(rows), int64(width)), x)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(rows), 1))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { in.Destroy(); out.Destroy() })
	return &call{s: s, in: in, out: out, inputs: []ort.Value{in}, output: []ort.Value{out}}
}

func (c *call) run() error { return c.s.Run(c.inputs, c.output) }

// TestWideMLPMatchesExpected runs widemlp's serving example through ONNX
// Runtime and compares the answer with expected.json, the generator's
// float64 reference.
func TestWideMLPMatchesExpected(t *testing.T) {
	dir, err := wideDir()
	if err != nil {
		t.Fatal(err)
	}
	var example struct {
		Inputs [][]float32 `json:"inputs"`
	}
	readJSON(t, filepath.Join(dir, "serving_input_example.json"), &example)
	var exp struct {
		RTol    float64 `json:"rtol"`
		ATol    float64 `json:"atol"`
		Outputs struct {
			Probability struct {
				Data [][]float64 `json:"data"`
			} `json:"probability"`
		} `json:"outputs"`
	}
	readJSON(t, filepath.Join(dir, "expected.json"), &exp)
	rows := len(example.Inputs)
	var x []float32
	for _, r := range example.Inputs {
		if len(r) != 64 {
			t.Fatalf("serving example row of %d values; want 64", len(r))
		}
		x = append(x, r...)
	}
	c := newCall(t, open(t, dir), x, rows, 64)
	if err := c.run(); err != nil {
		t.Fatal(err)
	}
	got := c.out.GetData()
	want := exp.Outputs.Probability.Data
	if len(want) != rows {
		t.Fatalf("expected.json has %d rows; the example %d", len(want), rows)
	}
	for i := range rows {
		w := want[i][0]
		if d := math.Abs(float64(got[i]) - w); d > exp.ATol+exp.RTol*math.Abs(w) {
			t.Errorf("row %d: probability %v; want %v within rtol %g, atol %g (off by %g)", i, got[i], w, exp.RTol, exp.ATol, d)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// BenchmarkCall is one ONNX Runtime call on each benchmark model at 1, 8
// and 64 rows, tensors made once: ns/row = ns/op ÷ rows. A model on which
// batching pays costs much less per row at 64 rows than at one.
func BenchmarkCall(b *testing.B) {
	for _, m := range models(b) {
		s := open(b, m.dir)
		for _, rows := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("model=%s/rows=%d", m.name, rows), func(b *testing.B) {
				x := make([]float32, rows*m.width)
				for i := range x {
					x[i] = float32(i%97)/97 - 0.5
				}
				c := newCall(b, s, x, rows, m.width)
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if err := c.run(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
			})
		}
	}
}
