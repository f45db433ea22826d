package telemetry

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// RejectReason says which admission limit refused a request.
type RejectReason int

const (
	// RejectConcurrency: the route's concurrency limit was reached.
	RejectConcurrency RejectReason = iota
	// RejectQueue: the model's request queue was full.
	RejectQueue
	numRejectReasons
)

var rejectNames = [numRejectReasons]string{"concurrency", "queue"}

// String returns the reason's attribute value.
func (r RejectReason) String() string {
	if r < 0 || r >= numRejectReasons {
		return "unknown"
	}
	return rejectNames[r]
}

// Protocol is the scoring protocol a request came by: the protocol
// attribute of mlgate.requests.
type Protocol int

const (
	// ProtocolMLflow is MLflow's scoring protocol (/invocations).
	ProtocolMLflow Protocol = iota
	// ProtocolV2REST is the Open Inference Protocol over REST
	// (/v2/models/<route>/infer).
	ProtocolV2REST
	// ProtocolV2GRPC is the Open Inference Protocol over gRPC
	// (inference.GRPCInferenceService/ModelInfer).
	ProtocolV2GRPC
	numProtocols
)

var protocolNames = [numProtocols]string{"mlflow", "v2-rest", "v2-grpc"}

// String returns the protocol's attribute value.
func (p Protocol) String() string {
	if p < 0 || p >= numProtocols {
		return "unknown"
	}
	return protocolNames[p]
}

// Status classes of mlgate.requests: index statusCode/100 - 1.
var statusClasses = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// statusClassIndex maps a status code to its class; codes outside
// 100–599 count as 5xx.
func statusClassIndex(code int) int {
	if code < 100 || code > 599 {
		return 4
	}
	return code/100 - 1
}

// RequestRecorder records the scoring requests one route target answers
// with one model version. It keeps its own cumulative counts (requests by
// status class, request latency, inference time) with atomic adds, which
// mlgate.requests and mlgate.inference.duration report and Window reads;
// http.server.request.duration goes to the SDK, with attribute sets built
// when the recorder is made (or the first time the route sees a method and
// status code), so Done and Rejected do not allocate.
//
// Recorders are shared and reference counted: NewRequestRecorder returns
// the live recorder of a (route, target, model, version) with a reference
// taken, and Release gives it back. When the last reference goes (the
// version is retired), the recorder's series leave /metrics and its
// windows are forgotten. It is safe for concurrent use.
type RequestRecorder struct {
	ins  *Instruments
	key  recorderKey
	refs int // guarded by ins.mu
	// retiredAt is when the last reference went; guarded by ins.mu.
	retiredAt time.Time
	// http is each protocol's http.route; nil for gRPC, which is not
	// HTTP/1.1 and records no http.server.request.duration.
	http [numProtocols]*HTTPRoute

	// start is when the recorder was made: the start of its cumulative
	// series.
	start time.Time

	classes [numProtocols][len(statusClasses)]atomic.Int64
	latency latencyCounts // request latency (to the response), for windows
	infer   inferCounts   // time in the model, for mlgate.inference.duration

	byClass  [numProtocols][len(statusClasses)]attribute.Set // mlgate.requests's attributes
	duration attribute.Set                                   // mlgate.inference.duration's
	rejected [numRejectReasons][]metric.AddOption

	win windows
}

// recorderKey identifies a RequestRecorder.
type recorderKey struct{ route, target, model, version string }

// UnknownRoute is the route attribute of scoring requests that name no
// configured route: the name a client sent never becomes a label.
const UnknownRoute = "(unknown)"

// NewRequestRecorder returns the recorder for requests on route (mlgate's
// route name) answered by target (the target's alias, or its model URI
// when it has no alias) with version modelVersion of model modelName, by
// every protocol, with a reference the caller gives back with Release.
// Requests refused before a target was chosen go to the route's recorder
// with empty target, model and version. The http.route of its MLflow
// requests is the route's canonical path, /routes/<route>/invocations,
// also when they reached the default route through /invocations (for
// UnknownRoute the template /routes/{route}/invocations); that of its Open
// Inference Protocol REST requests /v2/models/<route>/infer. The attribute
// values must come from configuration and the registry, never from request
// data. It takes a lock: call it when a version is deployed, not per
// request.
func (ins *Instruments) NewRequestRecorder(route, target, modelName, modelVersion string) *RequestRecorder {
	key := recorderKey{route, target, modelName, modelVersion}
	mlflowPath, v2Path := "/routes/"+route+"/invocations", "/v2/models/"+route+"/infer"
	if route == UnknownRoute {
		mlflowPath, v2Path = "/routes/{route}/invocations", "/v2/models/{model}/infer"
	}
	mlflowRoute, v2Route := ins.HTTPRoute(mlflowPath), ins.HTTPRoute(v2Path)
	ins.mu.Lock()
	defer ins.mu.Unlock()
	if rec := ins.recorders[key]; rec != nil {
		rec.refs++
		return rec
	}
	rec := &RequestRecorder{ins: ins, key: key, refs: 1, start: ins.now()}
	rec.http[ProtocolMLflow], rec.http[ProtocolV2REST] = mlflowRoute, v2Route
	for p, protocol := range protocolNames {
		for i, class := range statusClasses {
			rec.byClass[p][i] = attribute.NewSet(keyRoute.String(route), keyTarget.String(target),
				keyModelName.String(modelName), keyModelVersion.String(modelVersion),
				keyStatusClass.String(class), keyProtocol.String(protocol))
		}
	}
	rec.duration = attribute.NewSet(keyRoute.String(route),
		keyModelName.String(modelName), keyModelVersion.String(modelVersion))
	for i, reason := range rejectNames {
		set := attribute.NewSet(keyRoute.String(route), keyReason.String(reason))
		rec.rejected[i] = []metric.AddOption{metric.WithAttributeSet(set)}
	}
	ins.recorders[key] = rec
	return rec
}

// Release gives back the reference NewRequestRecorder returned. The last
// one retires the recorder: its series leave /metrics at the next
// collection, and its windows stay readable (Instruments.Retired) for 15
// minutes. Done may still be called on it afterwards (a request that
// started before the version was retired); those requests are counted in
// its windows only.
func (r *RequestRecorder) Release() {
	ins := r.ins
	ins.mu.Lock()
	defer ins.mu.Unlock()
	switch r.refs--; {
	case r.refs == 0:
		delete(ins.recorders, r.key)
		r.retiredAt = ins.now()
		ins.retired = append(ins.retired, r)
		ins.pruneRetired(r.retiredAt)
	case r.refs < 0:
		panic("telemetry: RequestRecorder released more often than made")
	}
}

// Done records one answered MLflow scoring request; it is DoneVia with
// ProtocolMLflow.
func (r *RequestRecorder) Done(ctx context.Context, statusCode int, method string, total, inference time.Duration) {
	r.DoneVia(ctx, ProtocolMLflow, statusCode, method, total, inference)
}

// DoneVia records one request answered by protocol p: its status class (of
// the HTTP status the answer has, or for gRPC the one its code stands for),
// its latency (total, from the request's start to its response), the time
// it spent in the model (inference; not recorded when zero or less, i.e.
// the request never reached the model) and, over HTTP,
// http.server.request.duration by method and status code. The recorder's
// own counts take one atomic add each; it does not allocate once the route
// has seen the (method, status code) pair.
func (r *RequestRecorder) DoneVia(ctx context.Context, p Protocol, statusCode int, method string, total, inference time.Duration) {
	if p < 0 || p >= numProtocols {
		p = ProtocolMLflow
	}
	r.classes[p][statusClassIndex(statusCode)].Add(1)
	r.latency.record(total)
	if inference > 0 {
		r.infer.record(inference)
	}
	if h := r.http[p]; h != nil {
		h.record(method, statusCode, total)
	}
}

// Rejected counts one request refused for reason on the recorder's route.
// The counter's attributes are only the route and the reason, so any
// recorder of the route may count a rejection made before a target was
// chosen. It does not allocate.
func (r *RequestRecorder) Rejected(ctx context.Context, reason RejectReason) {
	if reason < 0 || reason >= numRejectReasons {
		return
	}
	r.ins.rejected.Add(ctx, 1, r.rejected[reason]...)
}

// HTTPRoute records http.server.request.duration for one http.route (a
// path template such as "/ping" or "/admin/models"). Attribute sets are
// built the first time a (method, status code) pair is seen and reused
// afterwards, so Record does not allocate once warm. It is safe for
// concurrent use.
type HTTPRoute struct {
	ins   *Instruments
	route attribute.KeyValue // invalid for a request no route matched
	// byMethod holds, per method, the series by status code (index
	// code-100; the last slot is codes outside 100–599, recorded without
	// a status code).
	byMethod [numMethods]atomic.Pointer[statusTable]
}

const numStatusSlots = 501

type statusTable [numStatusSlots]atomic.Pointer[httpSeries]

// httpSeries is one attribute set of http.server.request.duration, kept
// by Instruments (like mlgate.inference.duration) so that recording is a
// few atomic adds rather than the SDK's attribute lookup under a lock.
// Its series lives as long as Instruments.
type httpSeries struct {
	attrs attribute.Set
	start time.Time
	c     inferCounts
}

// HTTPRoute returns the recorder for http.route path, the same one for
// the same path; recorders are kept as long as ins. An empty path records
// without http.route, for requests no route matched (unknown paths): as
// the semantic conventions say, what the client sent never becomes a
// label. Call it when routes are set up, not per request: it takes a
// lock.
func (ins *Instruments) HTTPRoute(path string) *HTTPRoute {
	ins.mu.Lock()
	defer ins.mu.Unlock()
	if h, ok := ins.httpRoutes[path]; ok {
		return h
	}
	h := &HTTPRoute{ins: ins}
	if path != "" {
		h.route = semconv.HTTPRouteKey.String(path)
	}
	ins.httpRoutes[path] = h
	return h
}

// Record records one request on the route with method and statusCode that
// took d. It does not allocate once the (method, status code) pair has
// been seen.
func (h *HTTPRoute) Record(_ context.Context, method string, statusCode int, d time.Duration) {
	h.record(method, statusCode, d)
}

func (h *HTTPRoute) record(method string, statusCode int, d time.Duration) {
	h.series(methodIndex(method), statusCode).c.record(d)
}

// series returns the series of (method, statusCode), making it on first
// use.
func (h *HTTPRoute) series(m, statusCode int) *httpSeries {
	slot := statusCode - 100
	if statusCode < 100 || statusCode > 599 {
		slot = numStatusSlots - 1
	}
	tab := h.byMethod[m].Load()
	if tab != nil {
		if sr := tab[slot].Load(); sr != nil {
			return sr
		}
	}
	ins := h.ins
	ins.mu.Lock()
	defer ins.mu.Unlock()
	if tab = h.byMethod[m].Load(); tab == nil {
		tab = new(statusTable)
		h.byMethod[m].Store(tab)
	}
	if sr := tab[slot].Load(); sr != nil {
		return sr
	}
	kvs := []attribute.KeyValue{semconvMethod(methodNames[m])}
	if h.route.Valid() {
		kvs = append(kvs, h.route)
	}
	if slot != numStatusSlots-1 {
		kvs = append(kvs, semconv.HTTPResponseStatusCodeKey.Int(statusCode))
	}
	sr := &httpSeries{attrs: attribute.NewSet(kvs...), start: ins.now()}
	ins.httpSeries = append(ins.httpSeries, sr)
	tab[slot].Store(sr)
	return sr
}

// HTTP methods known to the semantic conventions; any other is "_OTHER".
const numMethods = 10

var methodNames = [numMethods]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
	http.MethodConnect, http.MethodOptions, http.MethodTrace, http.MethodPatch, "_OTHER",
}

func methodIndex(method string) int {
	switch method {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodDelete:
		return 4
	case http.MethodConnect:
		return 5
	case http.MethodOptions:
		return 6
	case http.MethodTrace:
		return 7
	case http.MethodPatch:
		return 8
	}
	return numMethods - 1
}

// Method returns the canonical method name for b (http.MethodPost for
// "POST", "_OTHER" for methods the semantic conventions do not know)
// without allocating, for servers that hold the method as bytes.
func Method(b []byte) string {
	return methodNames[methodIndex(string(b))]
}

func semconvMethod(m string) attribute.KeyValue { return semconv.HTTPRequestMethodKey.String(m) }

var attrURLScheme = semconv.URLSchemeKey.String("http")
