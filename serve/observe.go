package serve

import (
	"bytes"
	"context"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/mlgate/mlgate/telemetry"
)

// rejected counts an admission rejection on route r.
func (s *Server) rejected(ctx context.Context, r *route, reason telemetry.RejectReason) {
	if s.cfg.Instruments == nil {
		return
	}
	if r.routeRec == nil {
		return
	}
	r.routeRec.Rejected(ctx, reason)
}

// headerCarrier adapts fasthttp request and response headers to OTel's
// propagation. Used only when tracing is on.
type requestCarrier struct{ h *fasthttp.RequestHeader }

func (c requestCarrier) Get(k string) string { return string(c.h.Peek(k)) }
func (c requestCarrier) Set(k, v string)     { c.h.Set(k, v) }
func (c requestCarrier) Keys() []string {
	var keys []string
	for k := range c.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}

type responseCarrier struct{ h *fasthttp.ResponseHeader }

func (c responseCarrier) Get(k string) string { return string(c.h.Peek(k)) }
func (c responseCarrier) Set(k, v string)     { c.h.Set(k, v) }
func (c responseCarrier) Keys() []string      { return nil }

// requestSpan is the server span of one scoring request, with children for
// validation and inference. The zero value records nothing: tracing off.
type requestSpan struct {
	ctx  context.Context
	span trace.Span
}

// spanKind names a scoring endpoint's server spans: their name, and the
// http.route attribute before and after the route's name.
type spanKind struct{ name, routePrefix, routeSuffix string }

var (
	spanInvocations = spanKind{"POST /routes/{route}/invocations", "/routes/", "/invocations"}
	spanInfer       = spanKind{"POST /v2/models/{model}/infer", "/v2/models/", "/infer"}
)

// startRequestSpan extracts the caller's trace context (W3C traceparent),
// starts the server span of kind k, and sends traceparent back on the
// response, so a client can find the trace.
func (s *Server) startRequestSpan(ctx *fasthttp.RequestCtx, r *route, k spanKind) requestSpan {
	if s.cfg.Tracer == nil {
		return requestSpan{}
	}
	prop := s.propagator()
	parent := prop.Extract(context.Background(), requestCarrier{&ctx.Request.Header})
	c, span := s.cfg.Tracer.Start(parent, k.name,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", "POST"),
			attribute.String("http.route", k.routePrefix+r.name+k.routeSuffix),
			attribute.String("route", r.name)))
	prop.Inject(c, responseCarrier{&ctx.Response.Header})
	return requestSpan{ctx: c, span: span}
}

func (s *Server) propagator() propagation.TextMapPropagator {
	if s.cfg.Propagator != nil {
		return s.cfg.Propagator
	}
	return propagation.TraceContext{}
}

// model names the version that serves the request, once chosen.
func (rs requestSpan) model(d *deployment) {
	if rs.span == nil {
		return
	}
	rs.span.SetAttributes(d.attrs...)
}

// child starts a child span (validate, infer); end it with the returned
// func. Tracing off: no-op.
func (rs requestSpan) child(name string) trace.Span {
	if rs.span == nil {
		return nil
	}
	_, sp := rs.span.TracerProvider().Tracer("github.com/mlgate/mlgate/serve").Start(rs.ctx, name)
	return sp
}

func endChild(sp trace.Span, err error) {
	if sp == nil {
		return
	}
	if err != nil {
		sp.SetStatus(codes.Error, err.Error())
	}
	sp.End()
}

func (rs requestSpan) end(status int) {
	if rs.span == nil {
		return
	}
	rs.span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		rs.span.SetStatus(codes.Error, "")
	}
	rs.span.End()
}

// metricsHandler serves GET /metrics from the configured Prometheus
// handler.
func (s *Server) metricsHandler() fasthttp.RequestHandler {
	if s.cfg.MetricsHandler == nil {
		return nil
	}
	return fasthttpadaptor.NewFastHTTPHandler(s.cfg.MetricsHandler)
}

// logRequestError logs a failed request: 5xx always (throttled per route
// and status, with the trace id when there is one), 4xx at debug level.
func (s *Server) logRequestError(ctx context.Context, status int, route, tag string, err error) {
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelWarn
	}
	if s.cfg.Throttle != nil {
		s.cfg.Throttle.Log(ctx, level, route+"/"+statusKey(status), "request failed",
			slog.Int("status", status), slog.String("route", route), slog.String("model", tag), slog.Any("err", err))
		return
	}
	s.cfg.Logger.Log(ctx, level, "request failed", "status", status, "route", route, "model", tag, "err", err)
}

func statusKey(status int) string {
	switch {
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	}
	return "other"
}

// logContext is the context request logs carry: the span's, so that
// records get the trace id, else ctx itself.
func (rs requestSpan) logContext(ctx context.Context) context.Context {
	if rs.ctx != nil {
		return rs.ctx
	}
	return ctx
}

// routeTemplate is the http.route of scoring requests on a named route
// that did not reach it (unauthorized).
const routeTemplate = "/routes/{route}/invocations"

// registryTemplate is the http.route of scoring requests through a
// registry route that did not reach a model (unauthorized).
const registryTemplate = "/models/{model}/invocations"

// fixedRoutes are the http.route values of the endpoints other than
// scoring, which record themselves per route.
var fixedRoutes = []string{
	"/invocations", routeTemplate, registryTemplate, "/webhooks/mlflow",
	"/ping", "/health", "/ready", "/live", "/version", "/metrics",
	"/admin/models", "/admin/refresh", "/admin/reload", "/admin/status", "/status",
	pprofRoute,
	"/v2", "/v2/health/live", "/v2/health/ready",
	"/v2/models/{model}", "/v2/models/{model}/ready", "/v2/models/{model}/infer",
	"/v2/models/{model}/versions/{version}", "/v2/models/{model}/versions/{version}/ready",
	"/v2/models/{model}/versions/{version}/infer",
	"/v1/models", "/v1/models/{model}", "/v1/models/{model}:predict",
}

const pprofRoute = "/debug/pprof/{profile}"

// prepareHTTPRecorders makes the recorders of the requests that are not
// scoring on a route: the unknown route's, and one per endpoint.
func (s *Server) prepareHTTPRecorders() {
	ins := s.cfg.Instruments
	if ins == nil {
		return
	}
	s.unknownRec = ins.NewRequestRecorder(telemetry.UnknownRoute, "", "", "")
	s.httpRoutes = map[string]*telemetry.HTTPRoute{"": ins.HTTPRoute("")}
	for _, p := range fixedRoutes {
		s.httpRoutes[p] = ins.HTTPRoute(p)
	}
}

// httpRoute returns the recorder of http.route path, the unmatched one
// for a path that is not an endpoint, nil without instruments.
func (s *Server) httpRoute(path string) *telemetry.HTTPRoute {
	if h, ok := s.httpRoutes[path]; ok {
		return h
	}
	return s.httpRoutes[""]
}

// adminHTTPRoute returns the recorder of an admin endpoint's path.
func (s *Server) adminHTTPRoute(path []byte) *telemetry.HTTPRoute {
	if bytes.HasPrefix(path, []byte("/debug/pprof/")) {
		return s.httpRoute(pprofRoute)
	}
	if h, ok := s.httpRoutes[string(path)]; ok {
		return h
	}
	return s.httpRoute("")
}

// recordHTTP records a request answered outside scoring in
// http.server.request.duration, timed from when fasthttp started handling
// it.
func (s *Server) recordHTTP(ctx *fasthttp.RequestCtx, h *telemetry.HTTPRoute) {
	if h == nil {
		return
	}
	h.Record(ctx, telemetry.Method(ctx.Method()), ctx.Response.StatusCode(), handled(ctx))
}

// refused records an MLflow scoring request answered before a target was
// chosen (wrong method, no such route, admission, unknown alias) on rec,
// the route's recorder or the unknown route's.
func (s *Server) refused(ctx *fasthttp.RequestCtx, rec *telemetry.RequestRecorder) {
	s.refusedVia(ctx, rec, telemetry.ProtocolMLflow)
}

// refusedVia is refused for protocol p over HTTP.
func (s *Server) refusedVia(ctx *fasthttp.RequestCtx, rec *telemetry.RequestRecorder, p telemetry.Protocol) {
	if rec == nil {
		return
	}
	rec.DoneVia(ctx, p, ctx.Response.StatusCode(), telemetry.Method(ctx.Method()), handled(ctx), 0)
}

// handled returns how long ago fasthttp started handling the request (or
// zero for a RequestCtx made without a server).
func handled(ctx *fasthttp.RequestCtx) time.Duration {
	if t := ctx.Time(); !t.IsZero() {
		return time.Since(t)
	}
	return 0
}
