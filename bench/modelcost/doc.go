// Package modelcost measures what one ONNX Runtime call costs on the
// benchmark models, alone and batched, with mlgate's default session
// settings (one intra-op thread, one inter-op thread, spinning off): the
// figures that say whether batching can pay on a model. Its benchmark,
// BenchmarkCall, reports ns/row at 1, 8 and 64 rows for mlp256
// (testdata/models) and for widemlp, which it generates with
// internal/onnxgen as the benchmark harness does; its test checks that
// ONNX Runtime answers widemlp's serving example as expected.json says.
//
// The package holds only tests. Like bench/naive it calls ONNX Runtime
// through onnxruntime_go (cgo) outside infer/, so that these figures do not
// depend on mlgate's own inference code; nothing imports it.
package modelcost
