package onnxgen

// The environment files mlflow.onnx.log_model writes next to the model, as
// the MLflow 3.5 set-up behind testdata/mlflow-real wrote them for its ONNX
// models.
const (
	condaYAML = `channels:
- conda-forge
dependencies:
- python=3.11.2
- pip<=23.0.1
- pip:
  - mlflow==3.5.1
  - onnx==1.12.0
  - onnxruntime
name: mlflow-env
`
	pythonEnvYAML = `python: 3.11.2
build_dependencies:
- pip==23.0.1
- setuptools==66.1.1
- wheel==0.38.4
dependencies:
- -r requirements.txt
`
	// requirementsTXT has no trailing newline, like MLflow's.
	requirementsTXT = "mlflow==3.5.1\nonnx==1.12.0\nonnxruntime"
)
