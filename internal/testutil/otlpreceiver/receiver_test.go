package otlpreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

const waitTimeout = 10 * time.Second

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// exportRequest is a hand-built request holding one span of each shape
// the decoder handles.
func exportRequest() *coltracepb.ExportTraceServiceRequest {
	tid := bytes.Repeat([]byte{0xab}, 16)
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", "mlgate")}},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "github.com/mlgate/mlgate"},
			Spans: []*tracepb.Span{
				{
					TraceId: tid, SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Name: "POST /invocations",
					Kind:   tracepb.Span_SPAN_KIND_SERVER,
					Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"},
					Attributes: []*commonpb.KeyValue{
						str("s", "v"),
						{Key: "i", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 42}}},
						{Key: "b", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}},
						{Key: "f", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 0.5}}},
						{Key: "a", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{
							Values: []*commonpb.AnyValue{{Value: &commonpb.AnyValue_StringValue{StringValue: "x"}}}}}}},
					},
					Events: []*tracepb.Span_Event{{Name: "exception"}},
				},
				{
					TraceId: tid, SpanId: []byte{9, 9, 9, 9, 9, 9, 9, 9}, ParentSpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8},
					Name: "GET", Kind: tracepb.Span_SPAN_KIND_CLIENT,
					Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
				},
			},
		}},
	}}}
}

func post(t *testing.T, target, contentType, encoding string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReceiverDecodesSpans(t *testing.T) {
	body, err := proto.Marshal(exportRequest())
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []string{"", "gzip"} {
		t.Run("encoding="+enc, func(t *testing.T) {
			r := Start(t)
			b := body
			if enc == "gzip" {
				b = gzipped(t, body)
			}
			if code, msg := post(t, r.TracesURL(), "application/x-protobuf", enc, b); code != http.StatusOK {
				t.Fatalf("POST: got %d %s; want 200", code, msg)
			}
			spans := r.Spans()
			if len(spans) != 2 {
				t.Fatalf("got %d spans; want 2", len(spans))
			}
			server, client := spans[0], spans[1]
			if server.Name != "POST /invocations" || server.Kind != trace.SpanKindServer || !server.IsRoot() {
				t.Errorf("got %q kind %v root %v; want \"POST /invocations\" server root", server.Name, server.Kind, server.IsRoot())
			}
			if server.TraceID.String() != strings.Repeat("ab", 16) || server.SpanID.String() != "0102030405060708" {
				t.Errorf("got trace %s span %s", server.TraceID, server.SpanID)
			}
			if server.Status != (Status{Code: codes.Error, Message: "boom"}) {
				t.Errorf("got status %+v; want error \"boom\"", server.Status)
			}
			wantAttrs := map[string]any{"s": "v", "i": int64(42), "b": true, "f": 0.5, "a": []any{"x"}}
			if fmt.Sprint(server.Attributes) != fmt.Sprint(wantAttrs) {
				t.Errorf("got attributes %v; want %v", server.Attributes, wantAttrs)
			}
			if server.Resource["service.name"] != "mlgate" || server.Scope != "github.com/mlgate/mlgate" {
				t.Errorf("got resource %v scope %q", server.Resource, server.Scope)
			}
			if len(server.Events) != 1 || server.Events[0] != "exception" {
				t.Errorf("got events %v; want [exception]", server.Events)
			}
			if client.ParentSpanID != server.SpanID || client.Kind != trace.SpanKindClient || client.Status.Code != codes.Ok {
				t.Errorf("client span: parent %s kind %v status %v; want parent %s, client, ok",
					client.ParentSpanID, client.Kind, client.Status.Code, server.SpanID)
			}
			if got := r.Headers(); len(got) != 1 || got[0].Get("Content-Encoding") != enc {
				t.Errorf("got headers %v; want one request with Content-Encoding %q", got, enc)
			}
		})
	}
}

func TestReceiverRefusesBadRequests(t *testing.T) {
	good, err := proto.Marshal(exportRequest())
	if err != nil {
		t.Fatal(err)
	}
	badID := exportRequest()
	badID.ResourceSpans[0].ScopeSpans[0].Spans[0].TraceId = []byte{1, 2, 3}
	badIDBody, err := proto.Marshal(badID)
	if err != nil {
		t.Fatal(err)
	}
	r := Start(t)
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		encoding    string
		body        []byte
		want        int
	}{
		{"GET", http.MethodGet, "/v1/traces", "application/x-protobuf", "", nil, http.StatusMethodNotAllowed},
		{"other path", http.MethodPost, "/v1/metrics", "application/x-protobuf", "", good, http.StatusNotFound},
		{"json", http.MethodPost, "/v1/traces", "application/json", "", []byte("{}"), http.StatusUnsupportedMediaType},
		{"brotli", http.MethodPost, "/v1/traces", "application/x-protobuf", "br", good, http.StatusUnsupportedMediaType},
		{"bad gzip", http.MethodPost, "/v1/traces", "application/x-protobuf", "gzip", good, http.StatusBadRequest},
		{"not protobuf", http.MethodPost, "/v1/traces", "application/x-protobuf", "", []byte{0xff, 0xff, 0xff}, http.StatusBadRequest},
		{"short trace id", http.MethodPost, "/v1/traces", "application/x-protobuf", "", badIDBody, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, r.Endpoint()+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.contentType)
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("got status %d; want %d", resp.StatusCode, tt.want)
			}
		})
	}
	if n := len(r.Spans()); n != 0 {
		t.Errorf("got %d spans from refused requests; want 0", n)
	}
}

func TestReceiverWithOTLPExporter(t *testing.T) {
	r := Start(t)
	exp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpointURL(r.TracesURL()),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "receiver-test"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
	_, child := tp.Tracer("test").Start(ctx, "child", trace.WithSpanKind(trace.SpanKindClient))
	child.End()
	parent.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	spans := r.WaitFor(t, func(s []Span) bool { return len(s) == 2 }, waitTimeout)
	byName := map[string]Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	if byName["child"].ParentSpanID != parent.SpanContext().SpanID() || byName["child"].TraceID != parent.SpanContext().TraceID() {
		t.Errorf("child: trace %s parent %s; want trace %s parent %s", byName["child"].TraceID, byName["child"].ParentSpanID,
			parent.SpanContext().TraceID(), parent.SpanContext().SpanID())
	}
	if byName["parent"].Resource["service.name"] != "receiver-test" {
		t.Errorf("resource %v; want service.name=receiver-test", byName["parent"].Resource)
	}
}

// recordingTB captures WaitFor's failure instead of failing the test.
type recordingTB struct {
	testing.TB
	failed string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestWaitForFailsWhenTheConditionNeverHolds(t *testing.T) {
	r := Start(t)
	body, err := proto.Marshal(exportRequest())
	if err != nil {
		t.Fatal(err)
	}
	if code, msg := post(t, r.TracesURL(), "application/x-protobuf", "", body); code != http.StatusOK {
		t.Fatalf("POST: got %d %s", code, msg)
	}
	tb := &recordingTB{TB: t}
	got := r.WaitFor(tb, func(s []Span) bool { return len(s) > 2 }, 50*time.Millisecond)
	if got != nil || tb.failed == "" {
		t.Fatalf("WaitFor returned %d spans, failure %q; want a failure", len(got), tb.failed)
	}
	for _, want := range []string{"got 2 spans", `"POST /invocations"`, `"GET"`} {
		if !strings.Contains(tb.failed, want) {
			t.Errorf("failure message %q does not mention %s", tb.failed, want)
		}
	}
}

func TestWaitForWakesOnArrival(t *testing.T) {
	r := Start(t)
	body, err := proto.Marshal(exportRequest())
	if err != nil {
		t.Fatal(err)
	}
	tb := &recordingTB{TB: t} // WaitFor runs off the test goroutine
	done := make(chan int)
	go func() {
		done <- len(r.WaitFor(tb, func(s []Span) bool { return len(s) == 2 }, waitTimeout))
	}()
	if code, msg := post(t, r.TracesURL(), "application/x-protobuf", "", body); code != http.StatusOK {
		t.Fatalf("POST: got %d %s", code, msg)
	}
	if n := <-done; n != 2 || tb.failed != "" {
		t.Errorf("WaitFor returned %d spans, failure %q; want 2 spans", n, tb.failed)
	}
}
