package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Telemetry holds mlgate's tracer and meter providers and the Prometheus
// registry behind /metrics. It is built once by New, is safe for
// concurrent use, and must be shut down with Shutdown, after which its
// providers record nothing and MetricsHandler serves only the Go and
// process series.
type Telemetry struct {
	tracing bool
	sdkTP   *sdktrace.TracerProvider // nil when tracing is off
	tp      trace.TracerProvider
	mp      *sdkmetric.MeterProvider
	prop    propagation.TextMapPropagator
	reg     *prometheus.Registry
	metrics http.Handler
}

// otelErrorEvery is how often OpenTelemetry's own errors (a collector
// that cannot be reached fails every export) reach the log.
const otelErrorEvery = time.Minute

// New builds mlgate's telemetry from cfg and the OTEL_* environment (see
// the package documentation). It sets OpenTelemetry's global text-map
// propagator to W3C TraceContext and Baggage, and its global error handler
// to log through cfg.Logger; it does not set the global tracer or meter
// provider: pass TracerProvider and MeterProvider to what needs them.
//
// New fails when the environment asks for something mlgate cannot do: an
// exporter other than otlp, OTLP over gRPC, or an endpoint that is not an
// http(s) URL; the error names the variable. It does not contact the
// collector.
func New(ctx context.Context, cfg Config) (*Telemetry, error) {
	getenv := cfg.getenv()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ts, err := traceSettingsFrom(getenv)
	if err != nil {
		return nil, err
	}
	res := newResource(ctx, cfg, getenv, log)

	t := &Telemetry{
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		tp:   noop.NewTracerProvider(),
	}
	if err := t.startMetrics(res, log); err != nil {
		return nil, err
	}
	if ts.enabled {
		if err := t.startTracing(ctx, ts, res); err != nil {
			_ = t.mp.Shutdown(ctx)
			return nil, err
		}
	}
	otel.SetTextMapPropagator(t.prop)
	errLog := NewThrottle(log, otelErrorEvery, nil)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		errLog.Log(context.Background(), slog.LevelWarn, "opentelemetry", "OpenTelemetry error", slog.Any("err", err))
	}))
	return t, nil
}

func (t *Telemetry) startMetrics(res *resource.Resource, log *slog.Logger) error {
	t.reg = prometheus.NewRegistry()
	if err := t.reg.Register(collectors.NewGoCollector()); err != nil {
		return fmt.Errorf("metrics: go collector: %w", err)
	}
	if err := t.reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return fmt.Errorf("metrics: process collector: %w", err)
	}
	exp, err := otelprom.New(
		otelprom.WithRegisterer(t.reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		otelprom.WithoutScopeInfo(),
	)
	if err != nil {
		return fmt.Errorf("metrics: prometheus exporter: %w", err)
	}
	t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	t.metrics = promhttp.HandlerFor(t.reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{log},
		ErrorHandling: promhttp.ContinueOnError,
	})
	return nil
}

func (t *Telemetry) startTracing(ctx context.Context, ts traceSettings, res *resource.Resource) error {
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(ts.endpoint)}
	if ts.json {
		opts = append(opts, otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON))
	} else {
		opts = append(opts, otlptracehttp.WithEncoding(otlptracehttp.EncodingProtobuf))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return fmt.Errorf("traces: otlp exporter for %s: %w", ts.endpoint, err)
	}
	t.sdkTP = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	t.tp, t.tracing = t.sdkTP, true
	return nil
}

// TracingEnabled reports whether spans are exported. When it is false the
// TracerProvider is a no-op, and hot paths may skip span work entirely.
func (t *Telemetry) TracingEnabled() bool { return t.tracing }

// TracerProvider returns the provider to start spans from: the SDK's when
// tracing is enabled, a no-op one otherwise. It is never nil.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// MeterProvider returns the SDK meter provider whose measurements
// MetricsHandler serves. Pass it to NewInstruments once.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// Propagator returns the W3C TraceContext and Baggage propagator, the one
// New also installs globally.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.prop }

// MetricsHandler serves every metric in the Prometheus text format (or
// another format the scraper negotiates), gzip-compressed when asked. It
// is safe for concurrent use; each request runs the observable
// instruments' callbacks.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metrics }

// Shutdown flushes the spans still queued to the collector and stops the
// providers. It waits until ctx ends at the latest, and is safe to call
// more than once (later calls report that the providers were already shut
// down).
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if t.sdkTP != nil {
		if err := t.sdkTP.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("traces: %w", err))
		}
	}
	if err := t.mp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("metrics: %w", err))
	}
	return errors.Join(errs...)
}

// promLogger adapts slog to promhttp's error log.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) {
	l.log.Error("serving metrics", "err", fmt.Sprint(v...))
}
