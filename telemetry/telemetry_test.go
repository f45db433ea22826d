package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/mlgate/mlgate/internal/testutil/otlpreceiver"
)

// waitTimeout bounds how long a test waits for exported spans; Shutdown
// flushes them, so they normally arrive at once.
const waitTimeout = 10 * time.Second

func TestNewWithoutEnvironmentTracesNothingAndServesMetrics(t *testing.T) {
	tel := newTestTelemetry(t, nil)
	if tel.TracingEnabled() {
		t.Error("TracingEnabled() = true with no OTEL_* variables; want false")
	}
	_, span := tel.TracerProvider().Tracer("test").Start(context.Background(), "op")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Errorf("span from the disabled provider: recording=%v valid=%v; want a no-op span",
			span.IsRecording(), span.SpanContext().IsValid())
	}
	span.End()

	fams := scrape(t, tel.MetricsHandler())
	var goSeries, processSeries int
	for name := range fams {
		switch {
		case strings.HasPrefix(name, "go_"):
			goSeries++
		case strings.HasPrefix(name, "process_"):
			processSeries++
		}
	}
	if goSeries == 0 || processSeries == 0 {
		t.Errorf("/metrics has %d go_ and %d process_ families; want both collectors", goSeries, processSeries)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	info := series(t, fams, "target_info", dto.MetricType_GAUGE)
	if len(info) != 1 {
		t.Fatalf("target_info: got %d series; want 1", len(info))
	}
	for _, m := range info {
		l := labelsOf(m)
		if l["service_name"] != "mlgate" || l["service_version"] != "v-test" {
			t.Errorf("target_info labels %s; want service_name=\"mlgate\" service_version=\"v-test\"", l)
		}
		if _, ok := l["process_command_args"]; ok {
			t.Errorf("target_info carries process_command_args (may hold secrets): %s", l)
		}
	}
}

func TestGlobalPropagatorIsTraceContextAndBaggage(t *testing.T) {
	tel := newTestTelemetry(t, nil)
	want := []string{"baggage", "traceparent", "tracestate"}
	for _, p := range []struct {
		name string
		prop propagation.TextMapPropagator
	}{{"Propagator()", tel.Propagator()}, {"otel.GetTextMapPropagator()", otel.GetTextMapPropagator()}} {
		got := slices.Sorted(slices.Values(p.prop.Fields()))
		if !slices.Equal(got, want) {
			t.Errorf("%s fields: got %v; want %v", p.name, got, want)
		}
	}
}

func TestServiceNamePrecedence(t *testing.T) {
	tests := []struct {
		name        string
		serviceEnv  string // OTEL_SERVICE_NAME, through Getenv
		resourceEnv string // OTEL_RESOURCE_ATTRIBUTES, read by the SDK
		cfg         string
		want        string
	}{
		{name: "default", want: "mlgate"},
		{name: "config", cfg: "gw", want: "gw"},
		{name: "resource attributes beat config", cfg: "gw", resourceEnv: "service.name=from-attrs,team=ml", want: "from-attrs"},
		{name: "OTEL_SERVICE_NAME beats all", cfg: "gw", resourceEnv: "service.name=from-attrs", serviceEnv: "from-env", want: "from-env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("OTEL_RESOURCE_ATTRIBUTES", tt.resourceEnv)
			t.Setenv("OTEL_SERVICE_NAME", "") // only through Getenv
			tel, err := New(context.Background(), Config{ServiceName: tt.cfg,
				Getenv: envOf(map[string]string{"OTEL_SERVICE_NAME": tt.serviceEnv})})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer tel.Shutdown(context.Background())
			for _, m := range series(t, scrape(t, tel.MetricsHandler()), "target_info", dto.MetricType_GAUGE) {
				if got := labelsOf(m)["service_name"]; got != tt.want {
					t.Errorf("service_name = %q; want %q", got, tt.want)
				}
			}
		})
	}
}

func TestSpansReachTheOTLPEndpoint(t *testing.T) {
	rcv := otlpreceiver.Start(t)
	tel, err := New(context.Background(), Config{ServiceName: "gw", ServiceVersion: "1.2.3", Getenv: envOf(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.Endpoint(),
		"OTEL_SERVICE_NAME":           "mlgate-e2e",
	})})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if !tel.TracingEnabled() {
		t.Fatal("TracingEnabled() = false with OTEL_EXPORTER_OTLP_ENDPOINT set; want true")
	}
	_, span := tel.TracerProvider().Tracer("test").Start(context.Background(), "resolve models:/churn-gbm@champion",
		trace.WithAttributes(attribute.String("model.name", "churn-gbm"), attribute.Int("attempt", 2)))
	want := span.SpanContext()
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	spans := rcv.WaitFor(t, func(s []otlpreceiver.Span) bool { return len(s) > 0 }, waitTimeout)
	if len(spans) != 1 {
		t.Fatalf("got %d spans; want 1", len(spans))
	}
	got := spans[0]
	if got.Name != "resolve models:/churn-gbm@champion" || got.TraceID != want.TraceID() || got.SpanID != want.SpanID() {
		t.Errorf("got span %q trace %s span %s; want %q trace %s span %s", got.Name, got.TraceID, got.SpanID,
			"resolve models:/churn-gbm@champion", want.TraceID(), want.SpanID())
	}
	if !got.IsRoot() || got.Kind != trace.SpanKindInternal {
		t.Errorf("got parent %s kind %v; want a root span of kind internal", got.ParentSpanID, got.Kind)
	}
	if got.Attributes["model.name"] != "churn-gbm" || got.Attributes["attempt"] != int64(2) {
		t.Errorf("got attributes %v; want model.name=churn-gbm attempt=2", got.Attributes)
	}
	for k, v := range map[string]any{"service.name": "mlgate-e2e", "service.version": "1.2.3", "telemetry.sdk.language": "go"} {
		if got.Resource[k] != v {
			t.Errorf("resource %s = %v; want %v", k, got.Resource[k], v)
		}
	}
}

func TestSpanContinuesIncomingTraceparent(t *testing.T) {
	rcv := otlpreceiver.Start(t)
	tel, err := New(context.Background(), Config{Getenv: envOf(map[string]string{
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": rcv.TracesURL(),
	})})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	h := http.Header{}
	h.Set("traceparent", "00-"+traceID+"-"+spanID+"-01")
	ctx := tel.Propagator().Extract(context.Background(), propagation.HeaderCarrier(h))
	_, span := tel.TracerProvider().Tracer("test").Start(ctx, "POST /invocations", trace.WithSpanKind(trace.SpanKindServer))
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	spans := rcv.WaitFor(t, func(s []otlpreceiver.Span) bool { return len(s) > 0 }, waitTimeout)
	got := spans[0]
	if got.TraceID.String() != traceID || got.ParentSpanID.String() != spanID {
		t.Errorf("got trace %s parent %s; want trace %s parent %s", got.TraceID, got.ParentSpanID, traceID, spanID)
	}
	if got.SpanID.String() == spanID || !got.SpanID.IsValid() {
		t.Errorf("got span id %s; want a new valid id", got.SpanID)
	}
	if got.Kind != trace.SpanKindServer {
		t.Errorf("got kind %v; want server", got.Kind)
	}
}

func TestExporterReadsProcessEnvironment(t *testing.T) {
	rcv := otlpreceiver.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.Endpoint())
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cret,x-tenant=ml%20platform")
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
	tel, err := New(context.Background(), Config{}) // Getenv nil: os.Getenv
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, span := tel.TracerProvider().Tracer("test").Start(context.Background(), "op")
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	rcv.WaitFor(t, func(s []otlpreceiver.Span) bool { return len(s) > 0 }, waitTimeout)
	hs := rcv.Headers()
	if len(hs) == 0 {
		t.Fatal("got no export request headers")
	}
	for k, want := range map[string]string{
		"X-Api-Key": "s3cret", "X-Tenant": "ml platform",
		"Content-Encoding": "gzip", "Content-Type": "application/x-protobuf",
	} {
		if got := hs[0].Get(k); got != want {
			t.Errorf("export request header %s = %q; want %q", k, got, want)
		}
	}
}

func TestNewRefusesWhatMlgateCannotExport(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		mention string
	}{
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			"mlgate exports OTLP over HTTP"},
		{"zipkin", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel, err := New(context.Background(), Config{Getenv: envOf(tt.env)})
			if err == nil {
				tel.Shutdown(context.Background())
				t.Fatal("New: got no error; want one")
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("New: got error %q; want it to mention %q", err, tt.mention)
			}
		})
	}
}

func TestSDKDisabledTurnsTracingOff(t *testing.T) {
	rcv := otlpreceiver.Start(t)
	tel := newTestTelemetry(t, map[string]string{
		"OTEL_SDK_DISABLED":           "true",
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.Endpoint(),
	})
	if tel.TracingEnabled() {
		t.Error("TracingEnabled() = true with OTEL_SDK_DISABLED=true; want false")
	}
	_, span := tel.TracerProvider().Tracer("test").Start(context.Background(), "op")
	if span.IsRecording() {
		t.Error("span is recording with OTEL_SDK_DISABLED=true; want a no-op span")
	}
	span.End()
	if _, ok := scrape(t, tel.MetricsHandler())["go_goroutines"]; !ok {
		t.Error("/metrics has no go_goroutines with OTEL_SDK_DISABLED=true; metrics stay on")
	}
}

func TestShutdownTwice(t *testing.T) {
	tel, err := New(context.Background(), Config{Getenv: envOf(map[string]string{"OTEL_TRACES_EXPORTER": "otlp"})})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatalf("first Shutdown (no spans to flush): %v", err)
	}
	if err := tel.Shutdown(ctx); err == nil {
		t.Error("second Shutdown: got no error; want one saying the providers are shut down")
	} else if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Shutdown waited for its deadline: %v", err)
	}
	fams := scrape(t, tel.MetricsHandler())
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("/metrics after Shutdown has no go_goroutines; want the Go and process series still served")
	}
	if _, ok := fams["target_info"]; ok {
		t.Error("/metrics after Shutdown still has OpenTelemetry series")
	}
}

func TestOpenTelemetryErrorsAreLoggedThrottled(t *testing.T) {
	h := newCapture(slog.LevelInfo)
	tel, err := New(context.Background(), Config{Logger: slog.New(h), Getenv: envOf(nil)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer tel.Shutdown(context.Background())
	otel.Handle(errors.New("exporting spans: connection refused"))
	otel.Handle(errors.New("exporting spans: connection refused again"))
	recs := h.records()
	if len(recs) != 1 {
		t.Fatalf("got %d records; want 1 (the second within a minute is suppressed)", len(recs))
	}
	vals, _ := attrsOf(recs[0])
	if recs[0].Level != slog.LevelWarn || vals["err"].String() != "exporting spans: connection refused" {
		t.Errorf("got %v %q err=%v; want WARN with the first error", recs[0].Level, recs[0].Message, vals["err"])
	}
}
