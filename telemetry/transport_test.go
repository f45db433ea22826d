package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// mlflowStub is an HTTP server on loopback that records the traceparent
// of each request and answers with status.
type mlflowStub struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string // traceparent headers, in order
}

func startStub(t *testing.T) *mlflowStub {
	t.Helper()
	s := &mlflowStub{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.got = append(s.got, r.Header.Get("traceparent"))
		s.mu.Unlock()
		status := http.StatusOK
		if v := r.URL.Query().Get("status"); v != "" {
			status, _ = strconv.Atoi(v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"registered_model": {}}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *mlflowStub) traceparents() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// newTracing returns an SDK tracer provider exporting synchronously to an
// in-memory exporter.
func newTracing(t *testing.T) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, exp
}

// newClient returns a client sending through Transport over its own
// connection pool, closed when t ends.
func newClient(t *testing.T, tp trace.TracerProvider) *http.Client {
	t.Helper()
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	return &http.Client{Transport: Transport(base, tp, propagation.TraceContext{})}
}

func attrValue(kvs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func get(t *testing.T, c *http.Client, ctx context.Context, target string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	return resp
}

func TestTransportInjectsTraceparentAndRecordsClientSpan(t *testing.T) {
	stub := startStub(t)
	tp, exp := newTracing(t)
	c := newClient(t, tp)

	ctx, parent := tp.Tracer("test").Start(context.Background(), "watch models:/churn-gbm@champion")
	u, _ := url.Parse(stub.srv.URL)
	u.User = url.UserPassword("mlflow-user", "hunter2")
	u.Path = "/api/2.0/mlflow/registered-models/alias"
	u.RawQuery = "name=churn-gbm&alias=champion&X-Amz-Signature=abcdef"
	resp := get(t, c, ctx, u.String())
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	parent.End()

	tps := stub.traceparents()
	if len(tps) != 1 {
		t.Fatalf("server saw %d requests; want 1", len(tps))
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("got %d ended spans; want the client span and its parent", len(spans))
	}
	client := spans[0]
	if client.SpanKind != trace.SpanKindClient || client.Name != "GET" {
		t.Errorf("got span %q kind %v; want \"GET\" kind client", client.Name, client.SpanKind)
	}
	if client.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("client span parent %s; want %s", client.Parent.SpanID(), parent.SpanContext().SpanID())
	}
	want := "00-" + parent.SpanContext().TraceID().String() + "-" + client.SpanContext.SpanID().String() + "-01"
	if tps[0] != want {
		t.Errorf("server got traceparent %q; want %q (the parent's trace, the client span's id)", tps[0], want)
	}

	host, port := u.Hostname(), u.Port()
	wantAttrs := map[string]string{
		"http.request.method":       "GET",
		"url.full":                  "http://REDACTED:REDACTED@" + u.Host + "/api/2.0/mlflow/registered-models/alias?name=churn-gbm&alias=champion&X-Amz-Signature=REDACTED",
		"server.address":            host,
		"server.port":               port,
		"http.response.status_code": "200",
	}
	for k, w := range wantAttrs {
		v, ok := attrValue(client.Attributes, k)
		if !ok || v.Emit() != w {
			t.Errorf("client span %s = %q; want %q", k, v.Emit(), w)
		}
	}
	for _, kv := range client.Attributes {
		if strings.Contains(kv.Value.Emit(), "hunter2") || strings.Contains(kv.Value.Emit(), "abcdef") {
			t.Errorf("client span attribute %s leaks a credential: %q", kv.Key, kv.Value.Emit())
		}
	}
	if client.Status.Code != codes.Unset {
		t.Errorf("client span status %v; want unset for a 200", client.Status.Code)
	}
}

func TestTransportSpanOutcomes(t *testing.T) {
	stub := startStub(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name       string
		target     string
		wantErr    bool
		wantStatus codes.Code
		wantCode   string // http.response.status_code; "" when absent
		readBody   bool
	}{
		{name: "ok, body closed unread", target: stub.srv.URL + "/ok", wantStatus: codes.Unset, wantCode: "200"},
		{name: "ok, body read to EOF", target: stub.srv.URL + "/ok", wantStatus: codes.Unset, wantCode: "200", readBody: true},
		{name: "not found", target: stub.srv.URL + "/x?status=404", wantStatus: codes.Error, wantCode: "404"},
		{name: "server error", target: stub.srv.URL + "/x?status=503", wantStatus: codes.Error, wantCode: "503"},
		{name: "connection refused", target: closedURL + "/x", wantErr: true, wantStatus: codes.Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, exp := newTracing(t)
			c := newClient(t, tp)
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, tt.target, nil)
			resp, err := c.Do(req)
			if (err != nil) != tt.wantErr {
				t.Fatalf("GET: got err %v; want error %v", err, tt.wantErr)
			}
			if err == nil {
				if n := len(exp.GetSpans()); n != 0 && !tt.readBody {
					t.Errorf("span ended before the body was consumed (%d spans)", n)
				}
				if tt.readBody {
					if _, err := io.ReadAll(resp.Body); err != nil {
						t.Fatal(err)
					}
					if n := len(exp.GetSpans()); n != 1 {
						t.Errorf("got %d spans after reading the body to EOF; want 1", n)
					}
				}
				resp.Body.Close()
			}
			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("got %d spans; want 1", len(spans))
			}
			s := spans[0]
			if s.Status.Code != tt.wantStatus {
				t.Errorf("span status %v; want %v", s.Status.Code, tt.wantStatus)
			}
			v, ok := attrValue(s.Attributes, "http.response.status_code")
			if got := v.Emit(); (tt.wantCode == "" && ok) || (tt.wantCode != "" && got != tt.wantCode) {
				t.Errorf("http.response.status_code = %q (present %v); want %q", got, ok, tt.wantCode)
			}
			if tt.wantErr {
				if len(s.Events) == 0 || s.Events[0].Name != "exception" {
					t.Errorf("span events %v; want an exception event", s.Events)
				}
				if _, ok := attrValue(s.Attributes, "error.type"); !ok {
					t.Error("span has no error.type")
				}
			}
		})
	}
}

func TestTransportDoesNotModifyTheRequest(t *testing.T) {
	stub := startStub(t)
	tp, _ := newTracing(t)
	c := newClient(t, tp)
	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
	defer parent.End()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, stub.srv.URL, nil)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := req.Header.Get("traceparent"); got != "" {
		t.Errorf("caller's request got traceparent %q; want it untouched", got)
	}
	if len(req.Header) != 1 {
		t.Errorf("caller's request headers %v; want only Authorization", req.Header)
	}
}

func TestTransportPropagatesWithoutTracing(t *testing.T) {
	stub := startStub(t)
	c := newClient(t, noop.NewTracerProvider())
	// An incoming request's trace, extracted while mlgate itself exports
	// nothing: the registry call still carries it.
	h := http.Header{}
	h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h))
	resp := get(t, c, ctx, stub.srv.URL)
	resp.Body.Close()
	resp = get(t, c, context.Background(), stub.srv.URL)
	resp.Body.Close()
	got := stub.traceparents()
	want := []string{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("server got traceparents %q; want %q", got, want)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://mlflow:5000/api/2.0/mlflow/registered-models/get?name=churn", "http://mlflow:5000/api/2.0/mlflow/registered-models/get?name=churn"},
		{"https://user:pass@mlflow.example.com/x", "https://REDACTED:REDACTED@mlflow.example.com/x"},
		{"https://token@mlflow.example.com/x", "https://REDACTED:REDACTED@mlflow.example.com/x"},
		{"https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F1&X-Amz-Signature=ff&X-Amz-Security-Token=tok",
			"https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED"},
		{"https://h/k?AWSAccessKeyId=A&Signature=S&Expires=1", "https://h/k?AWSAccessKeyId=REDACTED&Signature=REDACTED&Expires=1"},
		{"https://h/k?sig=abc&sv=2020", "https://h/k?sig=REDACTED&sv=2020"},
		{"https://h/k?flag&X-Goog-Signature", "https://h/k?flag&X-Goog-Signature"},
		{"https://h/k?x-amz-signature=lower", "https://h/k?x-amz-signature=REDACTED"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redactURL(u); got != tt.want {
			t.Errorf("redactURL(%q) = %q; want %q", tt.in, got, tt.want)
		}
		if u.String() != tt.in {
			t.Errorf("redactURL modified its argument: now %q", u.String())
		}
	}
}

func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{
		"http://mlflow:5000/api/2.0/mlflow/registered-models/get?name=churn",
		"https://user:pass@h/x?X-Amz-Signature=s",
		"https://h/k?sig=a&sig=b&%73ig=c",
		"http://[::1]:5000/p?q",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		got := redactURL(u)
		r, err := url.Parse(got)
		if err != nil {
			return // the input did not round-trip either
		}
		if u.User != nil && (r.User == nil || r.User.String() != "REDACTED:REDACTED") {
			t.Errorf("redactURL(%q) = %q: user info not redacted", s, got)
		}
		if pw, ok := u.User.Password(); ok && pw != "" && pw != "REDACTED" && r.User != nil {
			if rpw, _ := r.User.Password(); rpw == pw {
				t.Errorf("redactURL(%q) = %q keeps the password", s, got)
			}
		}
		for _, part := range strings.Split(r.RawQuery, "&") {
			k, v, ok := strings.Cut(part, "=")
			key, err := url.QueryUnescape(k)
			if ok && err == nil && sensitiveParam(key) && v != "REDACTED" {
				t.Errorf("redactURL(%q) = %q keeps %s=%s", s, got, key, v)
			}
		}
	})
}
