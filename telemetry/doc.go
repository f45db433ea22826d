// Package telemetry owns mlgate's OpenTelemetry set-up: the tracer and
// meter providers built from the standard OTEL_* environment, the
// Prometheus /metrics handler, every instrument mlgate records (created
// once, recorded without allocating on the request path), throttled
// logging with trace ids, and trace propagation on outgoing HTTP requests.
//
// It is owned by cmd/mlgate, which builds one Telemetry at start and hands
// its providers, Instruments and recorders to the other packages. It
// imports no other mlgate package, and nothing here touches fasthttp or
// ONNX Runtime.
//
// # Traces
//
// Tracing is off unless the environment asks for it, and then spans go to
// an OTLP/HTTP collector through a batch span processor. New consults
// these variables (through Config.Getenv):
//
//	OTEL_SDK_DISABLED=true                 tracing off, whatever else is set
//	OTEL_TRACES_EXPORTER                   "otlp" turns tracing on, "none" off; unset means
//	                                       on when an endpoint below is set
//	OTEL_EXPORTER_OTLP_TRACES_ENDPOINT     where spans go, used as is
//	OTEL_EXPORTER_OTLP_ENDPOINT            base URL; spans go to <base>/v1/traces
//	OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL   http/protobuf (default) or http/json; grpc is refused
//	OTEL_SERVICE_NAME                      service.name (else Config.ServiceName, else "mlgate")
//
// With no endpoint set, spans go to http://localhost:4318/v1/traces. The
// OpenTelemetry SDK reads the remaining variables from the process
// environment itself: OTEL_EXPORTER_OTLP_[TRACES_]HEADERS, _TIMEOUT,
// _COMPRESSION, _CERTIFICATE, _CLIENT_CERTIFICATE and _CLIENT_KEY;
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (default
// parentbased_always_on); OTEL_BSP_*; and OTEL_RESOURCE_ATTRIBUTES.
//
// # Metrics
//
// Metrics are always on (OTEL_SDK_DISABLED does not turn them off): an SDK
// MeterProvider whose reader is OpenTelemetry's Prometheus exporter,
// registered on a private prometheus.Registry together with the Go runtime
// and process collectors, served by [Telemetry.MetricsHandler] in the
// Prometheus text format. Names are translated the Prometheus way: dots
// become underscores, the unit is appended ("s" as _seconds, "By" as
// _bytes, "1" as _ratio; units in braces are dropped) and counters end in
// _total. The series mlgate's instruments produce are:
//
//	http_server_request_duration_seconds_{bucket,sum,count}  http_request_method, http_response_status_code, http_route
//	http_server_active_requests                               http_request_method, url_scheme
//	mlgate_requests_total                                     route, target, model_name, model_version, status_class
//	mlgate_inference_duration_seconds_{bucket,sum,count}     route, model_name, model_version
//	mlgate_admission_rejected_total                           route, reason
//	mlgate_model_load_duration_seconds_{bucket,sum,count}    model_name, model_version, outcome
//	mlgate_model_swaps_total                                  uri
//	mlgate_model_reload_failures_total                        uri
//	mlgate_log_suppressed_total                               key
//	mlgate_model_versions_loaded                              state
//	mlgate_model_bytes
//	mlgate_onnxruntime_sessions
//	mlgate_registry_staleness_seconds                         uri
//	mlgate_registry_stale                                     uri
//	mlgate_shadow_sampled_total                               route, shadow
//	mlgate_shadow_dropped_total                               route, shadow
//	mlgate_shadow_errors_total                                route, shadow
//	mlgate_shadow_compared_total                              route, shadow
//	mlgate_shadow_disagreement_ratio                          route, shadow, output
//	mlgate_shadow_abs_diff_mean                               route, shadow, output
//	mlgate_shadow_abs_diff_p99                                route, shadow, output
//	mlgate_shadow_latency_diff_seconds                        route, shadow
//
// plus target_info (the resource's attributes), the go_* and process_*
// series of the Prometheus collectors, and nothing with otel_scope_*
// labels (mlgate has one instrumentation scope).
package telemetry
