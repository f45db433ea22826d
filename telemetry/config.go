package telemetry

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path"
	"strings"
)

// Config configures New. The zero value is valid: service "mlgate", the
// process environment, and OpenTelemetry's own errors discarded.
type Config struct {
	// ServiceName is the service.name resource attribute. OTEL_SERVICE_NAME
	// wins over it; empty means "mlgate".
	ServiceName string
	// ServiceVersion is the service.version resource attribute; empty
	// leaves it unset.
	ServiceVersion string
	// Getenv looks up the variables listed in the package documentation
	// that decide whether and where mlgate exports traces. Nil means
	// os.Getenv. The OpenTelemetry SDK reads the other OTEL_* variables
	// from the process environment whatever Getenv is.
	Getenv func(string) string
	// Logger receives OpenTelemetry's own errors (failed exports, at most
	// one a minute) and errors serving /metrics. Nil discards them.
	Logger *slog.Logger
}

const (
	defaultServiceName   = "mlgate"
	defaultTracesURL     = "http://localhost:4318/v1/traces"
	defaultTracesURLPath = "/v1/traces"
)

// errGRPC is wrapped by New's error when the environment asks for
// OTLP/gRPC, which mlgate does not speak.
var errGRPC = errors.New("mlgate exports OTLP over HTTP only (http/protobuf or http/json, usually port 4318), not gRPC")

// traceSettings is what the environment says about traces.
type traceSettings struct {
	enabled  bool
	endpoint string // the URL spans are posted to
	json     bool   // http/json rather than http/protobuf
}

// traceSettingsFrom reads the variables that decide whether and where
// spans are exported. It fails on values mlgate cannot honour, naming the
// variable.
func traceSettingsFrom(getenv func(string) string) (traceSettings, error) {
	var ts traceSettings
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return ts, nil
	}
	tracesURL := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	baseURL := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))

	on, err := exporterWanted(getenv("OTEL_TRACES_EXPORTER"))
	if err != nil {
		return ts, err
	}
	switch on {
	case exporterNone:
		return ts, nil
	case exporterUnset:
		if tracesURL == "" && baseURL == "" {
			return ts, nil
		}
	}

	ts.enabled = true
	switch {
	case tracesURL != "":
		u, err := parseEndpoint("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", tracesURL)
		if err != nil {
			return ts, err
		}
		if u.Path == "" {
			u.Path = "/"
		}
		ts.endpoint = u.String()
	case baseURL != "":
		u, err := parseEndpoint("OTEL_EXPORTER_OTLP_ENDPOINT", baseURL)
		if err != nil {
			return ts, err
		}
		u.Path = path.Join("/", u.Path, defaultTracesURLPath)
		u.RawPath = ""
		ts.endpoint = u.String()
	default:
		ts.endpoint = defaultTracesURL
	}

	name, proto := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	if proto == "" {
		name, proto = "OTEL_EXPORTER_OTLP_PROTOCOL", strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	switch proto {
	case "", "http/protobuf":
	case "http/json":
		ts.json = true
	case "grpc":
		return ts, fmt.Errorf("%s=grpc: %w", name, errGRPC)
	default:
		return ts, fmt.Errorf("%s=%q: unknown protocol; want http/protobuf or http/json", name, proto)
	}
	return ts, nil
}

// exporterChoice is what OTEL_TRACES_EXPORTER asks for.
type exporterChoice int

const (
	exporterUnset exporterChoice = iota
	exporterNone
	exporterOTLP
)

// exporterWanted reads OTEL_TRACES_EXPORTER, a comma-separated list.
func exporterWanted(v string) (exporterChoice, error) {
	choice := exporterUnset
	for name := range strings.SplitSeq(v, ",") {
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "":
		case "none":
			if choice == exporterUnset {
				choice = exporterNone
			}
		case "otlp":
			choice = exporterOTLP
		default:
			return exporterUnset, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: mlgate exports traces with \"otlp\" (OTLP over HTTP) or not at all (\"none\")", v)
		}
	}
	return choice, nil
}

// parseEndpoint checks that an endpoint variable holds an http(s) URL.
func parseEndpoint(name, v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s=%q: want an http:// or https:// URL such as http://collector:4318", name, v)
	}
	return u, nil
}

// serviceName applies OTEL_SERVICE_NAME over the configured name.
func serviceName(cfg Config, getenv func(string) string) string {
	if v := strings.TrimSpace(getenv("OTEL_SERVICE_NAME")); v != "" {
		return v
	}
	if cfg.ServiceName != "" {
		return cfg.ServiceName
	}
	return defaultServiceName
}

func (cfg Config) getenv() func(string) string {
	if cfg.Getenv != nil {
		return cfg.Getenv
	}
	return os.Getenv
}
