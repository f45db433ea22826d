// Package onnxgen builds ONNX models and the MLflow model directories that
// hold them, byte for byte reproducibly, for mlgate's tests and benchmarks.
//
// It owns three things:
//   - an ONNX protobuf encoder (Model, Graph, Node, Tensor, Attribute, Type)
//     that writes the same wire format as the onnx Python package (proto2:
//     fields in field-number order, repeated scalars unpacked), with optional
//     external data in one file next to model.onnx;
//   - the files of an MLflow model directory (ModelDir): MLmodel in the exact
//     layout of MLflow 3.5's yaml.safe_dump, input_example.json and
//     serving_input_example.json as Python's json.dumps writes them, and the
//     environment files mlflow.onnx.log_model writes;
//   - the generated fixtures under testdata/models (Fixtures, WriteFixtures),
//     each with an expected.json computed by a float64 reference evaluation
//     of the same weights.
//
// The package is pure Go and test-only infrastructure: it must not import
// onnxruntime_go (only infer/ uses cgo) or any other mlgate package, and
// nothing in the serving path may import it.
package onnxgen
