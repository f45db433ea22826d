package telemetry

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Transport returns a RoundTripper that sends requests through base (nil
// means http.DefaultTransport), each inside a client span from tp (nil
// means no spans) whose context prop (nil means W3C TraceContext and
// Baggage) injects into the request's headers, so that the server sees
// the caller's trace. The span, named after the method, carries
// http.request.method, url.full (with credentials and signing query
// parameters redacted), server.address, server.port and
// http.response.status_code; it ends when the response body is read to
// the end or closed, or at once on an error. Statuses of 400 and above
// mark the span as failed. The request passed in is not modified. It is
// safe for concurrent use if base is.
func Transport(base http.RoundTripper, tp trace.TracerProvider, prop propagation.TextMapPropagator) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	if prop == nil {
		prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	return &transport{base: base, tracer: tp.Tracer(meterName), prop: prop}
}

type transport struct {
	base   http.RoundTripper
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	method := methodNames[methodIndex(req.Method)]
	name := method
	if method == "_OTHER" {
		name = "HTTP"
	}
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, semconvMethod(method))
	if method == "_OTHER" {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginalKey.String(req.Method))
	}
	if req.URL != nil {
		attrs = append(attrs, semconv.URLFullKey.String(redactURL(req.URL)))
		host, port := hostPort(req.URL)
		attrs = append(attrs, semconv.ServerAddressKey.String(host))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPortKey.Int(port))
		}
	}
	ctx, span := t.tracer.Start(req.Context(), name,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))

	out := req.Clone(ctx)
	t.prop.Inject(ctx, propagation.HeaderCarrier(out.Header))
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(fmt.Sprintf("%T", err)))
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.End()
		return resp, err
	}
	span.SetAttributes(semconv.HTTPResponseStatusCodeKey.Int(resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
		span.SetStatus(codes.Error, "")
	}
	if resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols {
		span.End()
		return resp, nil
	}
	resp.Body = &spanBody{ReadCloser: resp.Body, span: span}
	return resp, nil
}

// spanBody ends its span when the body is read to the end, fails, or is
// closed.
type spanBody struct {
	io.ReadCloser
	span trace.Span
	once sync.Once
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.end(nil)
	case err != nil:
		b.end(err)
	}
	return n, err
}

func (b *spanBody) Close() error {
	err := b.ReadCloser.Close()
	b.end(nil)
	return err
}

func (b *spanBody) end(err error) {
	b.once.Do(func() {
		if err != nil {
			b.span.RecordError(err)
			b.span.SetStatus(codes.Error, "reading the response body: "+err.Error())
		}
		b.span.End()
	})
}

// redactedQueryParams are query parameters that carry signatures or
// credentials (presigned S3 and GCS URLs); their values are replaced.
var redactedQueryParams = []string{
	"AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature", "X-Goog-Credential",
	"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token",
}

// redactURL returns u as a string fit for url.full: user and password
// become REDACTED, as do the values of signing query parameters.
func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.UserPassword("REDACTED", "REDACTED")
	}
	if c.RawQuery != "" {
		parts := strings.Split(c.RawQuery, "&")
		for i, p := range parts {
			k, _, hasValue := strings.Cut(p, "=")
			if !hasValue {
				continue
			}
			if key, err := url.QueryUnescape(k); err == nil && sensitiveParam(key) {
				parts[i] = k + "=REDACTED"
			}
		}
		c.RawQuery = strings.Join(parts, "&")
	}
	return c.String()
}

func sensitiveParam(key string) bool {
	for _, p := range redactedQueryParams {
		if strings.EqualFold(key, p) {
			return true
		}
	}
	return false
}

// hostPort returns the server's host and port, the port defaulting from
// the scheme.
func hostPort(u *url.URL) (string, int) {
	host, portStr, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, portStr = u.Hostname(), ""
	}
	if portStr != "" {
		if p, err := strconv.Atoi(portStr); err == nil {
			return host, p
		}
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return host, 80
	case "https":
		return host, 443
	}
	return host, 0
}
