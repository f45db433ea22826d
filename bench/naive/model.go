package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlgate/mlgate/bench/fixture"
)

// libraryEnv names the ONNX Runtime shared library, as it does for mlgate.
const libraryEnv = "MLGATE_ONNXRUNTIME_LIB"

// libraryPath returns $MLGATE_ONNXRUNTIME_LIB, or the library `make`
// installs under the repository root.
func libraryPath() (string, error) {
	if p := os.Getenv(libraryEnv); p != "" {
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("onnx runtime library (set %s): %w", libraryEnv, err)
	}
	return filepath.Join(root, ".cache", "onnxruntime", "1.24.1", "libonnxruntime.so.1"), nil
}

// repoRoot returns the nearest directory at or above the working directory
// that holds go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// defaultModelPath is churn-gbm version 1's model file in the repository.
func defaultModelPath(root string) string {
	return filepath.Join(root, "testdata", "mlflow-real", "models", "churn-gbm", "v1", "model.onnx")
}

// initRuntime loads the ONNX Runtime library and creates the process-wide
// environment; calls after the first succeeded do nothing.
func initRuntime(lib string) error {
	if ort.IsInitialized() {
		return nil
	}
	if _, err := os.Stat(lib); err != nil {
		return fmt.Errorf("onnx runtime library: %w", err)
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("initialise onnx runtime from %s: %w", lib, err)
	}
	return nil
}

// model is churn-gbm version 1 in one ONNX Runtime session, which every
// request shares (ONNX Runtime allows concurrent Run calls on a session).
type model struct {
	session *ort.DynamicAdvancedSession
}

// loadModel opens the model at path with one intra-op thread, one inter-op
// thread and spinning off: mlgate's defaults.
func loadModel(path string) (*model, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("intra-op threads: %w", err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("inter-op threads: %w", err)
	}
	for _, key := range []string{"session.intra_op.allow_spinning", "session.inter_op.allow_spinning"} {
		if err := opts.AddSessionConfigEntry(key, "0"); err != nil {
			return nil, fmt.Errorf("session option %s: %w", key, err)
		}
	}
	s, err := ort.NewDynamicAdvancedSession(path, []string{"input"}, []string{"probability"}, opts)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return &model{session: s}, nil
}

// predict runs the model on rows (row-major, len(fixture.Columns) values
// per row) and returns one churn probability per row.
func (m *model) predict(rows []float32) ([]float32, error) {
	n := int64(len(rows) / len(fixture.Columns))
	input, err := ort.NewTensor(ort.NewShape(n, int64(len(fixture.Columns))), rows)
	if err != nil {
		return nil, fmt.Errorf("input tensor: %w", err)
	}
	defer input.Destroy()
	output, err := ort.NewEmptyTensor[float32](ort.NewShape(n, 1))
	if err != nil {
		return nil, fmt.Errorf("output tensor: %w", err)
	}
	defer output.Destroy()
	if err := m.session.Run([]ort.Value{input}, []ort.Value{output}); err != nil {
		return nil, fmt.Errorf("run model: %w", err)
	}
	return append([]float32(nil), output.GetData()...), nil
}

// Close destroys the session.
func (m *model) Close() error {
	return m.session.Destroy()
}
