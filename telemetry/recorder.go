package telemetry

import (
	"context"
	"net/http"
	"sync"
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

// RequestRecorder records the measurements of scoring requests served by
// one route target with one model version. Its attribute sets are built
// when it is made (those of http.server.request.duration the first time
// the route sees a method and status code), so Done and Rejected do not
// allocate. Make one per (route, target, model version) when the version
// is deployed, not per request; it is safe for concurrent use.
type RequestRecorder struct {
	ins      *Instruments
	http     *HTTPRoute
	byClass  [len(statusClasses)][]metric.AddOption
	duration []metric.RecordOption
	rejected [numRejectReasons][]metric.AddOption
}

// NewRequestRecorder returns the recorder for requests on route (mlgate's
// route name) answered by target (the target's alias, or its model URI
// when it has no alias) with version modelVersion of model modelName.
// Its requests' http.route is the route's canonical path,
// /routes/<route>/invocations, also when they reached the default route
// through /invocations. The attribute values must come from
// configuration and the registry, never from request data.
func (ins *Instruments) NewRequestRecorder(route, target, modelName, modelVersion string) *RequestRecorder {
	rec := &RequestRecorder{ins: ins, http: ins.HTTPRoute("/routes/" + route + "/invocations")}
	for i, class := range statusClasses {
		set := attribute.NewSet(keyRoute.String(route), keyTarget.String(target),
			keyModelName.String(modelName), keyModelVersion.String(modelVersion),
			keyStatusClass.String(class))
		rec.byClass[i] = []metric.AddOption{metric.WithAttributeSet(set)}
	}
	set := attribute.NewSet(keyRoute.String(route),
		keyModelName.String(modelName), keyModelVersion.String(modelVersion))
	rec.duration = []metric.RecordOption{metric.WithAttributeSet(set)}
	for i, reason := range rejectNames {
		set := attribute.NewSet(keyRoute.String(route), keyReason.String(reason))
		rec.rejected[i] = []metric.AddOption{metric.WithAttributeSet(set)}
	}
	return rec
}

// Done records one answered request: mlgate.requests by status class,
// mlgate.inference.duration (inference,
// the time spent in the model; not recorded when it is zero or less,
// i.e. the request never reached the model) and
// http.server.request.duration by method and status code. It does not
// allocate once the route has seen the (method, status code) pair.
func (r *RequestRecorder) Done(ctx context.Context, statusCode int, method string, total, inference time.Duration) {
	r.ins.requests.Add(ctx, 1, r.byClass[statusClassIndex(statusCode)]...)
	secs := total.Seconds()
	if inference > 0 {
		r.ins.inferDuration.Record(ctx, inference.Seconds(), r.duration...)
	}
	r.http.record(ctx, method, statusCode, secs)
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
	route attribute.KeyValue
	mu    sync.Mutex // serialises building statusTables
	// byMethod holds, per method, the options by status code (index
	// code-100; the last slot is codes outside 100–599, recorded without
	// a status code).
	byMethod [numMethods]atomic.Pointer[statusTable]
}

const numStatusSlots = 501

type statusTable [numStatusSlots]atomic.Pointer[[]metric.RecordOption]

// HTTPRoute returns the recorder for http.route path, the same one for
// the same path; recorders are kept as long as ins. Call it when routes
// are set up, not per request: it takes a lock.
func (ins *Instruments) HTTPRoute(path string) *HTTPRoute {
	ins.mu.Lock()
	defer ins.mu.Unlock()
	if h, ok := ins.httpRoutes[path]; ok {
		return h
	}
	h := &HTTPRoute{ins: ins, route: semconv.HTTPRouteKey.String(path)}
	ins.httpRoutes[path] = h
	return h
}

// Record records one request on the route with method and statusCode that
// took d. It does not allocate once the (method, status code) pair has
// been seen.
func (h *HTTPRoute) Record(ctx context.Context, method string, statusCode int, d time.Duration) {
	h.record(ctx, method, statusCode, d.Seconds())
}

func (h *HTTPRoute) record(ctx context.Context, method string, statusCode int, secs float64) {
	h.ins.httpDuration.Record(ctx, secs, h.options(methodIndex(method), statusCode)...)
}

// options returns the prepared options for (method, statusCode), building
// them on first use.
func (h *HTTPRoute) options(m, statusCode int) []metric.RecordOption {
	slot := statusCode - 100
	if statusCode < 100 || statusCode > 599 {
		slot = numStatusSlots - 1
	}
	tab := h.byMethod[m].Load()
	if tab != nil {
		if opts := tab[slot].Load(); opts != nil {
			return *opts
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if tab = h.byMethod[m].Load(); tab == nil {
		tab = new(statusTable)
		h.byMethod[m].Store(tab)
	}
	if opts := tab[slot].Load(); opts != nil {
		return *opts
	}
	kvs := []attribute.KeyValue{semconvMethod(methodNames[m]), h.route}
	if slot != numStatusSlots-1 {
		kvs = append(kvs, semconv.HTTPResponseStatusCodeKey.Int(statusCode))
	}
	opts := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
	tab[slot].Store(&opts)
	return opts
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
