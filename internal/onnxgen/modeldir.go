package onnxgen

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// File names in an MLflow model directory.
const (
	MLmodelFile             = "MLmodel"
	ModelFile               = "model.onnx"
	InputExampleFile        = "input_example.json"
	ServingInputExampleFile = "serving_input_example.json"
	CondaFile               = "conda.yaml"
	PythonEnvFile           = "python_env.yaml"
	RequirementsFile        = "requirements.txt"
)

// File is one generated file: its name inside its directory and its bytes.
type File struct {
	Name string
	Data []byte
}

// ModelDir describes the directory mlflow.onnx.log_model leaves in the
// artifact store for an ONNX model: MLmodel, model.onnx and possibly one
// external-data file, the input examples and the environment files.
type ModelDir struct {
	// Model is the ONNX model; it is not modified.
	Model *Model
	// ExternalThreshold, when positive, moves every initializer with at
	// least that many bytes of raw data into one external-data file
	// (Model.WithExternalData); DefaultExternalThreshold is onnx's
	// default. Zero keeps every initializer inside model.onnx.
	ExternalThreshold int
	// MLmodel is the MLmodel file; Files fills in ModelSizeBytes.
	MLmodel MLmodel
	// InputExample is written to input_example.json with PythonJSON and
	// ServingInput to serving_input_example.json with PythonJSONIndent(2).
	// Both nil writes neither file; then MLmodel.InputExample must be nil.
	InputExample any
	ServingInput any
	// Extra files, such as expected.json, are added as they are. They do
	// not count toward model_size_bytes.
	Extra []File
}

// Files returns the directory's files sorted by name. model_size_bytes is the
// size of model.onnx, its external data and the two example files: the
// files present when MLflow measures the directory.
func (d *ModelDir) Files() ([]File, error) {
	if d.Model == nil {
		return nil, errors.New("model dir: no model")
	}
	if (d.InputExample == nil) != (d.ServingInput == nil) {
		return nil, errors.New("model dir: input example and serving input must both be set or both be nil")
	}
	if (d.InputExample == nil) != (d.MLmodel.InputExample == nil) {
		return nil, errors.New("model dir: saved_input_example_info does not match the example files")
	}
	model := d.Model
	var ext *ExternalData
	if d.ExternalThreshold > 0 {
		model, ext = d.Model.WithExternalData(d.ExternalThreshold)
	}
	files := []File{{ModelFile, model.Marshal()}}
	if ext != nil {
		files = append(files, File{ext.Name, ext.Data})
	}
	if d.InputExample != nil {
		in, err := PythonJSON(d.InputExample)
		if err != nil {
			return nil, fmt.Errorf("model dir: %s: %w", InputExampleFile, err)
		}
		serving, err := PythonJSONIndent(d.ServingInput, 2)
		if err != nil {
			return nil, fmt.Errorf("model dir: %s: %w", ServingInputExampleFile, err)
		}
		files = append(files, File{InputExampleFile, in}, File{ServingInputExampleFile, serving})
	}
	mlm := d.MLmodel
	mlm.ModelSizeBytes = 0
	for _, f := range files {
		mlm.ModelSizeBytes += int64(len(f.Data))
	}
	mlmodel, err := mlm.Marshal()
	if err != nil {
		return nil, fmt.Errorf("model dir: %w", err)
	}
	files = append(files,
		File{MLmodelFile, mlmodel},
		File{CondaFile, []byte(condaYAML)},
		File{PythonEnvFile, []byte(pythonEnvYAML)},
		File{RequirementsFile, []byte(requirementsTXT)},
	)
	files = append(files, d.Extra...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	for i := 1; i < len(files); i++ {
		if files[i].Name == files[i-1].Name {
			return nil, fmt.Errorf("model dir: two files named %s", files[i].Name)
		}
	}
	return files, nil
}

// WriteDir writes files into dir, creating it if needed, and removes every
// other regular file directly in dir, so that a regenerated directory holds
// exactly files (an external-data file renamed by new weights does not
// linger). Subdirectories are left alone.
func WriteDir(dir string, files []File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	keep := make(map[string]bool, len(files))
	for _, f := range files {
		if f.Name == "" || filepath.Base(f.Name) != f.Name {
			return fmt.Errorf("write %s: bad file name %q", dir, f.Name)
		}
		keep[f.Name] = true
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type().IsRegular() && !keep[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
