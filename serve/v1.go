package serve

import (
	"bytes"
	"encoding/json"

	"github.com/valyala/fasthttp"

	"github.com/mlgate/mlgate/telemetry"
)

// KServe's V1 data plane (the TensorFlow Serving REST API that KServe's
// InferenceServices speak by default): a model is a route, as in the Open
// Inference Protocol.
//
//	GET  /v1/models                   {"models": [<route>, ...]}
//	GET  /v1/models/<route>           {"name": <route>, "ready": bool} (503 while not ready or draining; V2's model readiness)
//	POST /v1/models/<route>:predict   {"instances": [...]} or {"inputs": ...} → {"predictions": ...}
//
// :predict takes the route's scoring path unchanged: MLflow's scoring
// protocol already reads V1's "instances" and "inputs" bodies and answers
// {"predictions": ...}, so validation, split, shadow, provenance and errors
// (MLflow's error body) are /routes/<route>/invocations'.
var (
	v1Prefix       = []byte("/v1/")
	v1ModelsPrefix = []byte("/v1/models/")
	v1Predict      = []byte(":predict")
)

// isV1 reports whether path is under /v1/.
func isV1(path []byte) bool { return bytes.HasPrefix(path, v1Prefix) }

// v1Route returns the http.route of a /v1 path, "" for none.
func v1Route(path []byte) string {
	switch {
	case string(path) == "/v1/models":
		return "/v1/models"
	case !bytes.HasPrefix(path, v1ModelsPrefix) || len(path) == len(v1ModelsPrefix):
		return ""
	case bytes.HasSuffix(path, v1Predict):
		return "/v1/models/{model}:predict"
	case bytes.IndexByte(path[len(v1ModelsPrefix):], ':') >= 0:
		return ""
	}
	return "/v1/models/{model}"
}

// v1 serves a request under /v1/ and returns the recorder of its
// http.route, or nil when the request recorded itself (:predict).
func (s *Server) v1(ctx *fasthttp.RequestCtx, path []byte) *telemetry.HTTPRoute {
	h := s.httpRoute(v1Route(path))
	if string(path) == "/v1/models" {
		if s.v2Get(ctx) && s.authorized(ctx) {
			s.v1List(ctx)
		}
		return h
	}
	name, found := bytes.CutPrefix(path, v1ModelsPrefix)
	if !found || len(name) == 0 || bytes.IndexByte(name, '/') >= 0 {
		writeError(ctx, errorf(fasthttp.StatusNotFound, codeEndpointNotFound, "no endpoint %s %s", ctx.Method(), path), "")
		return h
	}
	if model, ok := bytes.CutSuffix(name, v1Predict); ok {
		if !s.authorized(ctx) {
			return h
		}
		s.score(ctx, model)
		return nil
	}
	if bytes.IndexByte(name, ':') >= 0 {
		writeError(ctx, errorf(fasthttp.StatusNotFound, codeEndpointNotFound,
			"no endpoint %s %s: mlgate serves :predict (no :explain)", ctx.Method(), path), "")
		return h
	}
	if !s.v2Get(ctx) {
		return h
	}
	snap := s.acquire()
	if snap != nil {
		defer snap.release()
	}
	r, err := snap.routeNamed(name)
	if err != nil {
		writeError(ctx, err, "")
		return h
	}
	s.v2ModelReady(ctx, r, nil) // the same answer, draining included
	return h
}

// v1List answers GET /v1/models: the configured routes, sorted.
func (s *Server) v1List(ctx *fasthttp.RequestCtx) {
	snap := s.acquire()
	names := snap.configuredNames()
	if snap != nil {
		snap.release()
	}
	if names == nil {
		names = []string{}
	}
	body, _ := json.Marshal(struct {
		Models []string `json:"models"`
	}{names})
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}
