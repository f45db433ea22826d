// Package testutil holds helpers shared by mlgate's tests: locating the
// repository's fixtures and the ONNX Runtime library. It is imported only
// from _test.go files.
package testutil

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FindRepoRoot returns the repository root (the directory holding go.mod),
// found by walking up from the working directory.
func FindRepoRoot() (string, error) {
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
			return "", errors.New("no go.mod at or above the working directory: run from the mlgate repository")
		}
		dir = parent
	}
}

// RepoRoot is FindRepoRoot for tests: it fails the test instead of
// returning an error.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := FindRepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return dir
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

// RecordedModelFiles returns the artifacts of a recorded model version by
// file name: the files of RecordedModel without the recording's SOURCE.txt
// note, which is not one of them.
func RecordedModelFiles(tb testing.TB, name string, version int) map[string][]byte {
	tb.Helper()
	dir := RecordedModel(tb, name, version)
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "SOURCE.txt" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		files[e.Name()] = data
	}
	return files
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// Predictions parses a scoring response, {"predictions": ...}, into one
// flat list of numbers per output, whichever way it is shaped: one record
// per row (column signatures) or one entry per output (tensor signatures).
func Predictions(tb testing.TB, body []byte) map[string][]float64 {
	tb.Helper()
	var resp struct{ Predictions any }
	if err := json.Unmarshal(body, &resp); err != nil {
		tb.Fatalf("response %s: %v", body, err)
	}
	out := map[string][]float64{}
	switch p := resp.Predictions.(type) {
	case []any:
		for _, rec := range p {
			m, ok := rec.(map[string]any)
			if !ok {
				tb.Fatalf("response %s: a prediction is %T, not a record", body, rec)
			}
			for k, v := range m {
				out[k] = append(out[k], Flatten(tb, v)...)
			}
		}
	case map[string]any:
		for k, v := range p {
			out[k] = Flatten(tb, v)
		}
	default:
		tb.Fatalf("response %s: predictions of type %T", body, resp.Predictions)
	}
	return out
}

// Flatten turns a decoded JSON number or nested list of numbers into a
// flat list.
func Flatten(tb testing.TB, v any) []float64 {
	tb.Helper()
	switch x := v.(type) {
	case float64:
		return []float64{x}
	case []any:
		var out []float64
		for _, e := range x {
			out = append(out, Flatten(tb, e)...)
		}
		return out
	}
	tb.Fatalf("unexpected JSON value %T in predictions", v)
	return nil
}
