package onnxgen

import (
	"fmt"
	"time"
)

// Defaults of the MLmodel fields that name software versions: the versions
// of the MLflow 3.5 set-up that recorded testdata/mlflow-real.
const (
	DefaultMLflowVersion = "3.5.2.dev0"
	DefaultONNXVersion   = "1.12.0"
	DefaultPythonVersion = "3.11.2"
)

// MLmodel is the MLmodel file of a model logged with mlflow.onnx.log_model
// in MLflow 3.x. Marshal writes it in the exact layout MLflow's
// yaml.safe_dump produces.
type MLmodel struct {
	// ArtifactPath is the LoggedModel's artifact URI
	// (mlflow-artifacts:/<experiment>/models/m-<id>/artifacts); empty omits
	// the key, as MLflow does when it is null.
	ArtifactPath string
	// ModelID is the LoggedModel id (m-<32 hex>); empty writes null.
	ModelID string
	// ModelUUID is model_uuid; MLflow 3's log_model sets it to ModelID.
	// Empty means ModelID.
	ModelUUID string
	// RunID is the run the model was logged in; empty omits the key.
	RunID string
	// ModelSizeBytes is the total size of the model files and input
	// examples (ModelDir.Files computes it).
	ModelSizeBytes int64
	// Signature is nil for a model logged without one: no signature,
	// is_signature_from_type_hint or type_hint_from_example keys.
	Signature *Signature
	// InputExample describes the saved input example; nil omits
	// saved_input_example_info.
	InputExample *InputExampleInfo
	// Created is utc_time_created, written as Python's str(datetime) in UTC.
	Created time.Time
	// MLflowVersion, ONNXVersion and PythonVersion default to
	// DefaultMLflowVersion, DefaultONNXVersion and DefaultPythonVersion.
	MLflowVersion string
	ONNXVersion   string
	PythonVersion string
}

// Signature holds a model signature's three JSON strings, as MLflow stores
// them in MLmodel. An empty string writes null.
type Signature struct {
	Inputs, Outputs, Params string
}

// InputExampleInfo is MLmodel's saved_input_example_info. The example files
// are always input_example.json and serving_input_example.json.
type InputExampleInfo struct {
	// Type is "ndarray" (arrays and dicts of arrays) or "dataframe".
	Type string
	// PandasOrient is "split" for a dataframe example, empty otherwise.
	PandasOrient string
}

// Marshal returns the MLmodel file. It fails only when a field holds text
// that safe_dump would have to double-quote (control or non-ASCII
// characters), which this writer does not produce.
func (m *MLmodel) Marshal() ([]byte, error) {
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	var modelID any
	if m.ModelID != "" {
		modelID = m.ModelID
	}
	var modelUUID any = or(m.ModelUUID, m.ModelID)
	if modelUUID == "" {
		modelUUID = nil
	}
	doc := yamlMap{
		"flavors": yamlMap{
			"onnx": yamlMap{
				"code":                 nil,
				"data":                 "model.onnx",
				"onnx_session_options": nil,
				"onnx_version":         or(m.ONNXVersion, DefaultONNXVersion),
				"providers":            []string{"CUDAExecutionProvider", "CPUExecutionProvider"},
			},
			"python_function": yamlMap{
				"data":           "model.onnx",
				"env":            yamlMap{"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
				"loader_module":  "mlflow.onnx",
				"python_version": or(m.PythonVersion, DefaultPythonVersion),
			},
		},
		"mlflow_version":   or(m.MLflowVersion, DefaultMLflowVersion),
		"model_id":         modelID,
		"model_size_bytes": m.ModelSizeBytes,
		"model_uuid":       modelUUID,
		"prompts":          nil,
		"utc_time_created": pythonDatetime(m.Created),
	}
	if m.ArtifactPath != "" {
		doc["artifact_path"] = m.ArtifactPath
	}
	if m.RunID != "" {
		doc["run_id"] = m.RunID
	}
	if s := m.Signature; s != nil {
		nullable := func(v string) any {
			if v == "" {
				return nil
			}
			return v
		}
		doc["signature"] = yamlMap{
			"inputs":  nullable(s.Inputs),
			"outputs": nullable(s.Outputs),
			"params":  nullable(s.Params),
		}
		doc["is_signature_from_type_hint"] = false
		doc["type_hint_from_example"] = false
	}
	if ex := m.InputExample; ex != nil {
		info := yamlMap{
			"artifact_path":      InputExampleFile,
			"serving_input_path": ServingInputExampleFile,
			"type":               ex.Type,
		}
		if ex.PandasOrient != "" {
			info["pandas_orient"] = ex.PandasOrient
		}
		doc["saved_input_example_info"] = info
	}
	b, err := emitYAML(doc)
	if err != nil {
		return nil, fmt.Errorf("mlmodel: %w", err)
	}
	return b, nil
}

// pythonDatetime formats t in UTC as Python's str(datetime) does:
// "2026-11-22 03:00:45.224068", without the fraction when it is zero.
func pythonDatetime(t time.Time) string {
	t = t.UTC()
	s := t.Format("2006-01-02 15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s
}
