// Package fakemlflow is an in-process fake of an MLflow 3.5 tracking server
// for tests, built from responses recorded from a real server and its real
// artifact store: by default testdata/mlflow-real/rest with
// examples/registry/mlartifacts (ChurnStore), or
// testdata/mlflow-real/rest-lineage with testdata/mlflow-real/lineage
// (LineageStore).
//
// A request that was recorded is answered with the recorded status, headers
// and body bytes for as long as the state it depends on is unchanged. The
// endpoints mlgate's resolver uses (aliases, model versions, latest versions,
// registered models, download URIs, runs, experiments, LoggedModels, the
// mlflow-artifacts proxy, /health and /version) are also modeled: after a
// test moves an alias or adds a version they are rendered from the server's
// state in exactly MLflow's format (Python json.dumps with indent=2 for bodies, compact
// {"error_code": ..., "message": ...} errors with MLflow's messages, and the
// same headers). Tests can also move aliases over the real endpoints, take
// the server down in several ways, truncate downloads, and receive signed
// webhook deliveries.
//
// fakemlflow is test support: it imports the testing package and must not
// be imported by non-test code. It imports no other mlgate package.
package fakemlflow
