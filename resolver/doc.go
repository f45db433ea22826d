// Package resolver turns MLflow model URIs into model directories on local
// disk.
//
// It owns everything mlgate knows about MLflow's model registry: parsing
// models:/ URIs (ParseURI), asking a registry which version a URI points at
// (over MLflow's REST API or straight from a local SQLite store), collecting
// provenance (run ID, git commit, data version, run tags, LoggedModel ID; on
// request the whole lineage: run, experiment, code, data, params and
// metrics), downloading a version's
// whole artifact directory (mlflow-artifacts, http(s), file and s3), and
// keeping those directories in an on-disk cache keyed by the version's
// immutable identity.
//
// The resolver does not watch for alias moves by itself: callers poll Check
// (one round trip for an alias) or react to MLflow webhooks, then call Resolve
// and Fetch off the serving path.
//
// resolver must not import serve, infer, signature or any other mlgate
// package, and must not use fasthttp: registry traffic goes through net/http.
package resolver
