package otlpreceiver

import (
	"fmt"
	"sort"
	"strings"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Span is one received span, decoded into Go values.
type Span struct {
	Name string
	// TraceID and SpanID identify the span; ParentSpanID is zero for a
	// root span.
	TraceID      trace.TraceID
	SpanID       trace.SpanID
	ParentSpanID trace.SpanID
	Kind         trace.SpanKind
	// Attributes holds the span's attributes as string, bool, int64,
	// float64, []byte, []any or map[string]any.
	Attributes map[string]any
	Status     Status
	// Resource holds the attributes of the resource that sent the span
	// (service.name and the like); Scope names its instrumentation scope.
	Resource map[string]any
	Scope    string
	// Events names the span's events in order ("exception" for a
	// recorded error).
	Events []string
}

// Status is a span's status.
type Status struct {
	Code    codes.Code
	Message string
}

// IsRoot reports whether the span has no parent.
func (s Span) IsRoot() bool { return !s.ParentSpanID.IsValid() }

// convert flattens an export request into Spans.
func convert(req *coltracepb.ExportTraceServiceRequest) ([]Span, error) {
	var out []Span
	for _, rs := range req.GetResourceSpans() {
		res := attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			scope := ss.GetScope().GetName()
			for _, ps := range ss.GetSpans() {
				s, err := convertSpan(ps)
				if err != nil {
					return nil, err
				}
				s.Resource, s.Scope = res, scope
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func convertSpan(ps *tracepb.Span) (Span, error) {
	s := Span{
		Name:       ps.GetName(),
		Kind:       trace.SpanKind(ps.GetKind()),
		Attributes: attrMap(ps.GetAttributes()),
		Status:     Status{Message: ps.GetStatus().GetMessage()},
	}
	if len(ps.GetTraceId()) != len(s.TraceID) {
		return Span{}, fmt.Errorf("span %q: trace id has %d bytes; want %d", s.Name, len(ps.GetTraceId()), len(s.TraceID))
	}
	if len(ps.GetSpanId()) != len(s.SpanID) {
		return Span{}, fmt.Errorf("span %q: span id has %d bytes; want %d", s.Name, len(ps.GetSpanId()), len(s.SpanID))
	}
	if n := len(ps.GetParentSpanId()); n != 0 && n != len(s.ParentSpanID) {
		return Span{}, fmt.Errorf("span %q: parent span id has %d bytes; want 0 or %d", s.Name, n, len(s.ParentSpanID))
	}
	copy(s.TraceID[:], ps.GetTraceId())
	copy(s.SpanID[:], ps.GetSpanId())
	copy(s.ParentSpanID[:], ps.GetParentSpanId())
	switch ps.GetStatus().GetCode() {
	case tracepb.Status_STATUS_CODE_OK:
		s.Status.Code = codes.Ok
	case tracepb.Status_STATUS_CODE_ERROR:
		s.Status.Code = codes.Error
	default:
		s.Status.Code = codes.Unset
	}
	for _, e := range ps.GetEvents() {
		s.Events = append(s.Events, e.GetName())
	}
	return s, nil
}

func attrMap(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = value(kv.GetValue())
	}
	return m
}

func value(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue
	case *commonpb.AnyValue_ArrayValue:
		vals := x.ArrayValue.GetValues()
		out := make([]any, len(vals))
		for i, e := range vals {
			out[i] = value(e)
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		return attrMap(x.KvlistValue.GetValues())
	}
	return nil
}

// describe lists spans one a line, for failure messages.
func describe(spans []Span) string {
	var b strings.Builder
	for _, s := range spans {
		keys := make([]string, 0, len(s.Attributes))
		for k := range s.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "  %q kind=%v trace=%s span=%s parent=%s status=%v attrs=", s.Name, s.Kind, s.TraceID, s.SpanID, s.ParentSpanID, s.Status.Code)
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s=%v", k, s.Attributes[k])
		}
		b.WriteByte('\n')
	}
	return b.String()
}
