package onnxgen

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/models from the generator")

// modelsDir is where the generated fixtures are committed.
const modelsDir = "../../testdata/models"

// readTree returns every regular file under root by slash path.
func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := make(map[string][]byte)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestGenerationIsDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if err := WriteFixtures(dir); err != nil {
			t.Fatal(err)
		}
	}
	ta, tb := readTree(t, a), readTree(t, b)
	if len(ta) == 0 {
		t.Fatal("WriteFixtures wrote nothing")
	}
	for name, data := range ta {
		if !bytes.Equal(data, tb[name]) {
			t.Errorf("%s differs between two generations", name)
		}
	}
	if len(ta) != len(tb) {
		t.Errorf("generations hold %d and %d files", len(ta), len(tb))
	}
}

func TestWriteFixturesReplacesStaleFiles(t *testing.T) {
	root := t.TempDir()
	stale := filepath.Join(root, "mlp256", "00000000-0000-5000-8000-000000000000")
	other := filepath.Join(root, "unrelated", "keep.txt")
	for _, p := range []string{stale, other} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFixtures(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale external-data file survived regeneration (stat: %v)", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a directory that is not a fixture was touched: %v", err)
	}
}

// TestGolden checks that testdata/models is what the generator writes. Run
// with -update to rewrite it.
func TestGolden(t *testing.T) {
	if *update {
		if err := WriteFixtures(modelsDir); err != nil {
			t.Fatal(err)
		}
	}
	fixtures, err := Fixtures()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{ReadmeFile: []byte(fixturesReadme)}
	for _, f := range fixtures {
		for _, file := range f.Files {
			want[f.Name+"/"+file.Name] = file.Data
		}
	}
	got := readTree(t, modelsDir)
	for _, name := range keys(want) {
		data := want[name]
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s/%s is missing; run go test ./internal/onnxgen -run TestGolden -update", modelsDir, name)
		case !bytes.Equal(g, data):
			t.Errorf("%s/%s differs from the generator's output; run go test ./internal/onnxgen -run TestGolden -update", modelsDir, name)
		}
	}
	for _, name := range keys(got) {
		dir := filepath.Dir(name)
		if _, ok := want[name]; !ok && slices.ContainsFunc(fixtures, func(f Fixture) bool { return f.Name == dir }) {
			t.Errorf("%s/%s is not generated; remove it or run with -update", modelsDir, name)
		}
	}
}
