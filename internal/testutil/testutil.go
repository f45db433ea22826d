// Package testutil holds helpers shared by mlgate's tests: locating the
// repository's fixtures and the ONNX Runtime library. It is imported only
// from _test.go files.
package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the repository root (the directory holding go.mod),
// found by walking up from the working directory.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("testutil: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Path joins elem onto the repository root.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	return filepath.Join(append([]string{RepoRoot(tb)}, elem...)...)
}

// RecordedModel returns the directory of a model recorded from MLflow,
// e.g. RecordedModel(t, "churn-gbm", 1).
func RecordedModel(tb testing.TB, name string, version int) string {
	tb.Helper()
	return Path(tb, "testdata", "mlflow-real", "models", name, "v"+itoa(version))
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
