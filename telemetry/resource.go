package telemetry

import (
	"context"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// newResource describes this process: service.name and service.version,
// the host, the process (without its command line, which may carry
// secrets such as --admin-token), the SDK, and OTEL_RESOURCE_ATTRIBUTES.
// Precedence for service.name: OTEL_SERVICE_NAME, then a service.name in
// OTEL_RESOURCE_ATTRIBUTES, then Config.ServiceName, then "mlgate".
// Detection is best effort: what cannot be detected is logged and left
// out.
func newResource(ctx context.Context, cfg Config, getenv func(string) string, log *slog.Logger) *resource.Resource {
	base := []attribute.KeyValue{semconv.ServiceName(defaultServiceName)}
	if cfg.ServiceName != "" {
		base[0] = semconv.ServiceName(cfg.ServiceName)
	}
	if cfg.ServiceVersion != "" {
		base = append(base, semconv.ServiceVersion(cfg.ServiceVersion))
	}
	opts := []resource.Option{
		resource.WithAttributes(base...),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessExecutablePath(),
		resource.WithProcessOwner(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithProcessRuntimeDescription(),
		resource.WithFromEnv(),
	}
	if strings.TrimSpace(getenv("OTEL_SERVICE_NAME")) != "" {
		opts = append(opts, resource.WithAttributes(semconv.ServiceName(serviceName(cfg, getenv))))
	}
	res, err := resource.New(ctx, opts...)
	if err != nil {
		log.Warn("some OpenTelemetry resource attributes could not be detected", "err", err)
	}
	return res
}
