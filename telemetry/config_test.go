package telemetry

import (
	"errors"
	"strings"
	"testing"
)

// envOf returns a Getenv reading env only.
func envOf(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestTraceSettingsFrom(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		enabled  bool
		endpoint string
		json     bool
	}{
		{name: "nothing set", env: nil},
		{name: "exporter otlp, default endpoint",
			env:     map[string]string{"OTEL_TRACES_EXPORTER": "otlp"},
			enabled: true, endpoint: "http://localhost:4318/v1/traces"},
		{name: "base endpoint gets /v1/traces",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			enabled: true, endpoint: "http://collector:4318/v1/traces"},
		{name: "base endpoint with a path",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://gw.example.com/otlp/"},
			enabled: true, endpoint: "https://gw.example.com/otlp/v1/traces"},
		{name: "traces endpoint used as is",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/custom/path"},
			enabled: true, endpoint: "http://collector:4318/custom/path"},
		{name: "traces endpoint without a path targets /",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318"},
			enabled: true, endpoint: "http://collector:4318/"},
		{name: "traces endpoint wins over base",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://base:4318",
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/v1/traces",
			},
			enabled: true, endpoint: "http://traces:4318/v1/traces"},
		{name: "exporter none wins over an endpoint",
			env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}},
		{name: "sdk disabled wins over everything",
			env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}},
		{name: "sdk disabled is case-insensitive",
			env: map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}},
		{name: "sdk disabled false",
			env:     map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
			enabled: true, endpoint: "http://c:4318/v1/traces"},
		{name: "exporter list with otlp",
			env:     map[string]string{"OTEL_TRACES_EXPORTER": " none , OTLP "},
			enabled: true, endpoint: "http://localhost:4318/v1/traces"},
		{name: "http/json",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
			enabled: true, endpoint: "http://c:4318/v1/traces", json: true},
		{name: "traces protocol wins",
			env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
				"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
			enabled: true, endpoint: "http://c:4318/v1/traces"},
		{name: "grpc is not checked while tracing is off",
			env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := traceSettingsFrom(envOf(tt.env))
			if err != nil {
				t.Fatalf("traceSettingsFrom: %v", err)
			}
			if got.enabled != tt.enabled || got.endpoint != tt.endpoint || got.json != tt.json {
				t.Errorf("got enabled=%v endpoint=%q json=%v; want enabled=%v endpoint=%q json=%v",
					got.enabled, got.endpoint, got.json, tt.enabled, tt.endpoint, tt.json)
			}
		})
	}
}

func TestTraceSettingsFromRefuses(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		grpc    bool
		mention []string
	}{
		{name: "grpc",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			grpc:    true,
			mention: []string{"OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTLP over HTTP"}},
		{name: "grpc for traces",
			env:     map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"},
			grpc:    true,
			mention: []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc", "OTLP over HTTP"}},
		{name: "unknown protocol",
			env:     map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"},
			mention: []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"}},
		{name: "unknown exporter",
			env:     map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"},
			mention: []string{"OTEL_TRACES_EXPORTER", "zipkin", "otlp"}},
		{name: "endpoint without a scheme",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
			mention: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "http://"}},
		{name: "traces endpoint not http",
			env:     map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "unix:///run/otel.sock"},
			mention: []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "unix:///run/otel.sock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := traceSettingsFrom(envOf(tt.env))
			if err == nil {
				t.Fatal("got no error; want one")
			}
			if got := errors.Is(err, errGRPC); got != tt.grpc {
				t.Errorf("errors.Is(err, errGRPC) = %v; want %v (err: %v)", got, tt.grpc, err)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("got error %q; want it to mention %q", err, m)
				}
			}
		})
	}
}

func TestServiceName(t *testing.T) {
	tests := []struct {
		env, cfg, want string
	}{
		{"", "", "mlgate"},
		{"", "gateway", "gateway"},
		{"from-env", "gateway", "from-env"},
		{"  ", "gateway", "gateway"},
	}
	for _, tt := range tests {
		got := serviceName(Config{ServiceName: tt.cfg}, envOf(map[string]string{"OTEL_SERVICE_NAME": tt.env}))
		if got != tt.want {
			t.Errorf("serviceName(env %q, config %q) = %q; want %q", tt.env, tt.cfg, got, tt.want)
		}
	}
}
