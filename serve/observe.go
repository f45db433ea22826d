package serve

import (
	"context"
	"log/slog"

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
	if r.rejectRec == nil {
		return
	}
	r.rejectRec.Rejected(ctx, reason)
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

// startRequestSpan extracts the caller's trace context (W3C traceparent),
// starts the server span, and sends traceparent back on the response, so a
// client can find the trace.
func (s *Server) startRequestSpan(ctx *fasthttp.RequestCtx, r *route) requestSpan {
	if s.cfg.Tracer == nil {
		return requestSpan{}
	}
	prop := s.propagator()
	parent := prop.Extract(context.Background(), requestCarrier{&ctx.Request.Header})
	c, span := s.cfg.Tracer.Start(parent, "POST /routes/{route}/invocations",
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", "POST"),
			attribute.String("http.route", "/routes/"+r.name+"/invocations"),
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
	rs.span.SetAttributes(
		attribute.String("model.name", d.prov.Name), attribute.String("model.version", d.prov.Version),
		attribute.String("model.alias", d.prov.Alias), attribute.String("mlflow.run_id", d.prov.RunID))
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
