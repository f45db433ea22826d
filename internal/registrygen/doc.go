// Package registrygen registers many small generated ONNX models in an MLflow
// registry for mlgate's tests and benchmarks: in a copy of the example
// SQLite store (SQLiteStore) and in the in-process fake MLflow server
// (Fake), so that mlgate resolves models:/<name>@<alias> and
// models:/<name>/<version> to them and downloads their artifacts exactly
// as it does for the example models.
//
// The models' files are internal/onnxgen fixtures (Kind), generated once per
// process and shared by every version that uses them; Many describes n
// models with a champion and a challenger version each.
//
// registrygen is test support: it imports the testing package, and only
// tests and bench may import it.
package registrygen
