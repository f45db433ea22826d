package serve

import (
	"bytes"
	"encoding/json"

	"github.com/valyala/fasthttp"

	"github.com/mlgate/mlgate/signature"
	"github.com/mlgate/mlgate/telemetry"
)

// The Open Inference Protocol (KServe V2) over REST, on the main listener
// beside MLflow's scoring protocol:
//
//	GET  /v2                                               server metadata
//	GET  /v2/health/live, /v2/health/ready                 liveness, readiness
//	GET  /v2/models/<route>[/versions/<version>]           model metadata
//	GET  /v2/models/<route>[/versions/<version>]/ready     model readiness
//	POST /v2/models/<route>[/versions/<version>]/infer     inference
//
// A model is a route; a version is a registry version number or an alias
// among the route's targets. Without a version the route's policy chooses
// the target, as for /invocations. Errors are the protocol's
// {"error": "..."} with the status classify decides.

// Platform is the platform the model metadata reports for every model.
const Platform = "onnxruntime_onnx"

// InferExtensions are the protocol extensions mlgate implements, as server
// metadata lists them.
var InferExtensions = []string{"binary_tensor_data"}

// HeaderInferHeaderLength is the binary tensor data extension's header: the
// length of the JSON object of a body followed by binary tensor data.
const HeaderInferHeaderLength = "Inference-Header-Content-Length"

var (
	hdrInferHeaderLength   = []byte(HeaderInferHeaderLength)
	contentTypeOctetStream = []byte("application/octet-stream")
	v2Prefix               = []byte("/v2")
	v2ModelsPrefix         = []byte("/v2/models/")
	v2VersionsPrefix       = []byte("versions/")
)

// v2Op is what a /v2/models/ path asks for.
type v2Op uint8

const (
	v2Metadata v2Op = iota + 1
	v2Ready
	v2Infer
)

// isV2 reports whether path is under /v2.
func isV2(path []byte) bool {
	return bytes.HasPrefix(path, v2Prefix) && (len(path) == len(v2Prefix) || path[len(v2Prefix)] == '/')
}

// parseModelPath splits /v2/models/<model>[/versions/<version>][/ready|/infer].
func parseModelPath(path []byte) (model, version []byte, op v2Op, ok bool) {
	rest, found := bytes.CutPrefix(path, v2ModelsPrefix)
	if !found {
		return nil, nil, 0, false
	}
	model, rest, _ = bytes.Cut(rest, []byte{'/'})
	if len(model) == 0 {
		return nil, nil, 0, false
	}
	if r, found := bytes.CutPrefix(rest, v2VersionsPrefix); found {
		version, rest, _ = bytes.Cut(r, []byte{'/'})
		if len(version) == 0 {
			return nil, nil, 0, false
		}
	}
	switch string(rest) {
	case "":
		return model, version, v2Metadata, true
	case "ready":
		return model, version, v2Ready, true
	case "infer":
		return model, version, v2Infer, true
	}
	return nil, nil, 0, false
}

// v2 serves a request under /v2 on the main listener and returns the
// recorder of its http.route, or nil when the request recorded itself
// (inference).
func (s *Server) v2(ctx *fasthttp.RequestCtx, path []byte) *telemetry.HTTPRoute {
	h := s.httpRoute(v2Route(path))
	switch string(path) {
	case "/v2", "/v2/":
		if s.v2Get(ctx) {
			ctx.SetContentType("application/json")
			ctx.SetBody(s.serverMetadata)
		}
		return h
	case "/v2/health/live":
		if s.v2Get(ctx) {
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"live":true}`)
		}
		return h
	case "/v2/health/ready":
		if s.v2Get(ctx) {
			s.v2ServerReady(ctx)
		}
		return h
	}
	model, version, op, ok := parseModelPath(path)
	if !ok {
		writeInferError(ctx, errorf(fasthttp.StatusNotFound, codeEndpointNotFound, "no endpoint %s %s", ctx.Method(), path), "")
		return h
	}
	if op == v2Infer {
		if !s.authorized(ctx) {
			return h
		}
		s.scoreInfer(ctx, model, version)
		return nil
	}
	if !s.v2Get(ctx) {
		return h
	}
	if op == v2Metadata && !s.authorized(ctx) {
		return h
	}
	snap := s.acquire()
	defer func() {
		if snap != nil {
			snap.release()
		}
	}()
	r, err := snap.routeNamed(model)
	if err != nil {
		writeInferError(ctx, err, "")
		return h
	}
	if op == v2Ready {
		s.v2ModelReady(ctx, r, version)
		return h
	}
	tg := r.metaTarget
	if version != nil {
		if tg, err = r.serving(version); err != nil {
			writeInferError(ctx, err, "")
			return h
		}
	}
	ctx.Response.Header.SetCanonical(hdrRoute, r.nameHdr)
	if tg == nil || tg.meta == nil {
		writeInferError(ctx, errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail,
			"model %s: no version is loaded yet", r.name), "")
		return h
	}
	stampProvenance(&ctx.Response.Header, tg.d)
	ctx.SetContentType("application/json")
	ctx.SetBody(tg.meta)
	return h
}

// v2Get refuses, with 405, a request that is not GET or HEAD.
func (s *Server) v2Get(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsGet() || ctx.IsHead() {
		return true
	}
	writeInferError(ctx, errorf(fasthttp.StatusMethodNotAllowed, codeBadRequest, "%s %s: use GET", ctx.Method(), ctx.Path()), "")
	return false
}

// v2ServerReady answers {"ready": true} when every route's models are
// loaded and the server is not draining, else 503 {"ready": false}.
func (s *Server) v2ServerReady(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	if !s.Ready() {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString(`{"ready":false}`)
		return
	}
	ctx.SetBodyString(`{"ready":true}`)
}

// v2ModelReady answers {"name": route, "ready": true} when the route's
// targets with traffic (or the target serving version) are loaded and the
// server is not draining, else 503 with "ready": false.
func (s *Server) v2ModelReady(ctx *fasthttp.RequestCtx, r *route, version []byte) {
	ready := !s.draining.Load()
	ctx.Response.Header.SetCanonical(hdrRoute, r.nameHdr)
	if version != nil {
		tg, err := r.serving(version)
		if err != nil {
			writeInferError(ctx, err, "")
			return
		}
		ready = ready && tg.d != nil
		if tg.d != nil {
			stampProvenance(&ctx.Response.Header, tg.d)
		}
	} else {
		ready = ready && r.ready()
	}
	body, _ := json.Marshal(struct {
		Name  string `json:"name"`
		Ready bool   `json:"ready"`
	}{r.name, ready})
	ctx.SetContentType("application/json")
	if !ready {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	}
	ctx.SetBody(body)
}

// writeInferError writes err as the protocol's error body, {"error":
// message}, with the status classify decides.
func writeInferError(ctx *fasthttp.RequestCtx, err error, tag string) {
	status, _, msg := classify(err, tag)
	ctx.SetStatusCode(status)
	setRetryAfter(ctx, err)
	ctx.SetContentType("application/json")
	ctx.SetBody(signature.AppendInferError(nil, msg))
}

// renderServerMetadata is the body of GET /v2.
func renderServerMetadata(version string) []byte {
	b, _ := json.Marshal(struct {
		Name       string   `json:"name"`
		Version    string   `json:"version"`
		Extensions []string `json:"extensions"`
	}{"mlgate", version, InferExtensions})
	return b
}

// modelMetadata is the protocol's model metadata response.
type modelMetadata struct {
	Name     string                     `json:"name"`
	Versions []string                   `json:"versions"`
	Platform string                     `json:"platform"`
	Inputs   []signature.TensorMetadata `json:"inputs"`
	Outputs  []signature.TensorMetadata `json:"outputs"`
}

// GraphOutputs is what a Model may implement to list its graph's outputs
// in the protocol's model metadata (an output that is not a tensor with
// DTypeInvalid); without it the metadata lists no outputs.
type GraphOutputs interface {
	GraphOutputs() []signature.GraphTensor
}

// prepareMetadata renders, when a Snapshot is compiled, the model metadata
// of each route (as its first target with traffic and a model serves it)
// and of each of its targets with a model: the route's loaded versions,
// the inputs the target's plan takes and its graph's outputs.
func (snap *Snapshot) prepareMetadata() {
	for _, r := range snap.routes {
		var versions []string
		for i := range r.targets {
			if d := r.targets[i].d; d != nil {
				versions = append(versions, d.prov.Version)
			}
		}
		for i := range r.targets {
			tg := &r.targets[i]
			if tg.d == nil {
				continue
			}
			md := modelMetadata{Name: r.name, Versions: versions, Platform: Platform,
				Inputs: tg.d.model.Plan().InferInputs(), Outputs: []signature.TensorMetadata{}}
			if g, ok := tg.d.model.(GraphOutputs); ok {
				md.Outputs = signature.InferOutputs(g.GraphOutputs())
			}
			tg.metadata = &md
			tg.meta, _ = json.Marshal(md)
			if r.metaTarget == nil && tg.weight > 0 {
				r.metaTarget = tg
			}
		}
	}
}

// routeNamed returns the route named name, or an error (404) naming the
// routes there are; snap nil means no routes are configured (503).
func (snap *Snapshot) routeNamed(name []byte) (*route, error) {
	if snap == nil {
		return nil, errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail, "no routes configured")
	}
	if r := snap.routes[string(name)]; r != nil && !r.onDemand {
		return r, nil
	}
	return nil, errorf(fasthttp.StatusNotFound, codeResourceDoesNotExist,
		"model %q does not exist; the models are the routes %s", name, snap.routeList())
}

// ready reports whether every target of r with traffic has a model or
// has been given up on (it will not load until the registry names another
// version).
func (r *route) ready() bool {
	for i := range r.targets {
		if tg := &r.targets[i]; tg.weight > 0 && tg.d == nil && (tg.unserved == nil || !tg.unserved.gaveUp) {
			return false
		}
	}
	return true
}

// v2Route returns the http.route of a /v2 path: the path of a fixed
// endpoint, the template of a model's (the route and version a client
// names never become labels), "" for no endpoint. It does not allocate.
func v2Route(path []byte) string {
	switch string(path) {
	case "/v2", "/v2/":
		return "/v2"
	case "/v2/health/live":
		return "/v2/health/live"
	case "/v2/health/ready":
		return "/v2/health/ready"
	}
	_, version, op, ok := parseModelPath(path)
	switch {
	case !ok:
		return ""
	case op == v2Ready && version != nil:
		return "/v2/models/{model}/versions/{version}/ready"
	case op == v2Ready:
		return "/v2/models/{model}/ready"
	case op == v2Infer && version != nil:
		return "/v2/models/{model}/versions/{version}/infer"
	case op == v2Infer:
		return "/v2/models/{model}/infer"
	case version != nil:
		return "/v2/models/{model}/versions/{version}"
	}
	return "/v2/models/{model}"
}
