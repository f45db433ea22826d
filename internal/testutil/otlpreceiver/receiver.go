// Package otlpreceiver is an in-test OTLP/HTTP trace receiver: an HTTP
// server on 127.0.0.1 that accepts what an OpenTelemetry exporter posts
// to /v1/traces (protobuf, optionally gzip-compressed) and keeps the
// spans for the test to inspect. It is imported only from _test.go files
// and imports no other mlgate package.
package otlpreceiver

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// maxBody bounds an export request's body, compressed or not.
const maxBody = 32 << 20

// Receiver is a running OTLP/HTTP trace receiver. Its methods are safe for
// concurrent use. It stops when the test that started it ends.
type Receiver struct {
	srv *httptest.Server

	mu      sync.Mutex
	spans   []Span
	headers []http.Header // of each accepted export request
	changed chan struct{} // closed and replaced when spans arrive
}

// Start starts a receiver on 127.0.0.1 and stops it when tb ends.
func Start(tb testing.TB) *Receiver {
	tb.Helper()
	r := &Receiver{changed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", r.traces)
	r.srv = httptest.NewServer(mux)
	tb.Cleanup(r.srv.Close)
	return r
}

// Endpoint returns the receiver's base URL (http://127.0.0.1:<port>), the
// value for OTEL_EXPORTER_OTLP_ENDPOINT; exporters append /v1/traces.
func (r *Receiver) Endpoint() string { return r.srv.URL }

// TracesURL returns the full URL spans are posted to, the value for
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
func (r *Receiver) TracesURL() string { return r.srv.URL + "/v1/traces" }

// Spans returns a copy of every span received so far, in arrival order.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Headers returns the headers of every export request accepted so far.
func (r *Receiver) Headers() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]http.Header, len(r.headers))
	for i, h := range r.headers {
		out[i] = h.Clone()
	}
	return out
}

// WaitFor waits until cond holds for the spans received so far, and
// returns them. It fails tb, listing what arrived, when timeout passes
// first. cond is called with a copy it may keep.
func (r *Receiver) WaitFor(tb testing.TB, cond func([]Span) bool, timeout time.Duration) []Span {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		spans, changed := append([]Span(nil), r.spans...), r.changed
		r.mu.Unlock()
		if cond(spans) {
			return spans
		}
		select {
		case <-changed:
		case <-deadline.C:
			tb.Fatalf("otlpreceiver: condition not met within %v; got %d spans:\n%s", timeout, len(spans), describe(spans))
			return nil
		}
	}
}

// traces serves POST /v1/traces the way an OTLP/HTTP collector does.
func (r *Receiver) traces(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != "application/x-protobuf" {
		http.Error(w, fmt.Sprintf("content type %q: this receiver accepts application/x-protobuf", mt), http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = http.MaxBytesReader(w, req.Body, maxBody)
	switch enc := strings.ToLower(req.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, "gzip body: "+err.Error(), http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = io.LimitReader(zr, maxBody+1)
	default:
		http.Error(w, fmt.Sprintf("content encoding %q: this receiver accepts gzip or none", enc), http.StatusUnsupportedMediaType)
		return
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(body); err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if buf.Len() > maxBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(buf.Bytes(), &msg); err != nil {
		http.Error(w, "decoding ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	spans, err := convert(&msg)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.spans = append(r.spans, spans...)
	r.headers = append(r.headers, req.Header.Clone())
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()

	out, err := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}
