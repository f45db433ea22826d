// Package oip holds the Open Inference Protocol's gRPC service
// (inference.GRPCInferenceService): grpc_predict_v2.proto and the Go code
// protoc-gen-go and protoc-gen-go-grpc generate from it (`make proto`).
// serve implements the service; nothing else of mlgate imports it but
// tests and the benchmark harness. Do not edit the generated files.
package oip
