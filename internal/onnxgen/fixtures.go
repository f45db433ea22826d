package onnxgen

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Fixture is one generated MLflow model directory under testdata/models.
type Fixture struct {
	// Name is the directory name (mlp256, zipmap, dtypes, fixed1, nosig, labelprobs).
	Name string
	// Files are the directory's files, sorted by name.
	Files []File
}

// fixtureBuilders build the fixtures in the order Fixtures returns them.
var fixtureBuilders = []struct {
	name  string
	build func() (*ModelDir, error)
}{
	{"mlp256", buildMLP256},
	{"zipmap", buildZipMap},
	{"dtypes", buildDTypes},
	{"fixed1", buildFixed1},
	{"nosig", buildNoSig},
	{"labelprobs", buildLabelProbs},
}

// ReadmeFile is the name of the fixtures root's README.
const ReadmeFile = "README.md"

// Fixtures builds every fixture. The result depends on nothing but this
// package's code: the same bytes on every run and machine.
func Fixtures() ([]Fixture, error) {
	out := make([]Fixture, 0, len(fixtureBuilders))
	for _, fb := range fixtureBuilders {
		d, err := fb.build()
		if err != nil {
			return nil, fmt.Errorf("fixture %s: %w", fb.name, err)
		}
		files, err := d.Files()
		if err != nil {
			return nil, fmt.Errorf("fixture %s: %w", fb.name, err)
		}
		out = append(out, Fixture{Name: fb.name, Files: files})
	}
	return out, nil
}

// WriteFixtures writes README.md and one directory per fixture under root.
// Each fixture directory ends up holding exactly its files (see WriteDir);
// other entries of root are left alone.
func WriteFixtures(root string) error {
	fixtures, err := Fixtures()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, ReadmeFile), []byte(fixturesReadme), 0o644); err != nil {
		return err
	}
	for _, f := range fixtures {
		if err := WriteDir(filepath.Join(root, f.Name), f.Files); err != nil {
			return fmt.Errorf("fixture %s: %w", f.Name, err)
		}
	}
	return nil
}

// fakeHex returns 32 hex digits derived from kind and name: a stable stand-in
// for the uuid4().hex ids MLflow gives runs and logged models.
func fakeHex(kind, name string) string {
	sum := sha256.Sum256([]byte("mlgate/onnxgen/" + kind + "/" + name))
	return hex.EncodeToString(sum[:16])
}

// fixtureMLmodel returns the MLmodel fields every fixture shares: fake but
// stable model and run ids, an artifact path in experiment 0, and a fixed
// creation time (second is the fixture's index, so the times differ).
func fixtureMLmodel(name string, second int) MLmodel {
	modelID := "m-" + fakeHex("model", name)
	return MLmodel{
		ArtifactPath: "mlflow-artifacts:/0/models/" + modelID + "/artifacts",
		ModelID:      modelID,
		RunID:        fakeHex("run", name),
		Created:      time.Date(2026, 1, 15, 12, 0, second, 250000000, time.UTC),
	}
}

// fixtureModel returns a Model with the fixtures' producer and opsets.
func fixtureModel(doc string, g Graph) *Model {
	return &Model{
		ProducerName:    "mlgate-onnxgen",
		ProducerVersion: "1",
		Doc:             doc,
		Graph:           g,
		Opsets:          DefaultOpsets(),
	}
}
