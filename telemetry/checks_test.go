package telemetry

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestQuietChecksDropped: a check trace whose root says it changed nothing
// is dropped whole; one that changed something, one that does not say, and
// every other trace are exported whole, children included.
func TestQuietChecksDropped(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(newQuietChecks(sdktrace.NewSimpleSpanProcessor(exp))))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("test")

	check := func(name string, attrs ...attribute.KeyValue) {
		ctx, root := tr.Start(context.Background(), checkSpan, trace.WithAttributes(attribute.String("case", name)))
		_, child := tr.Start(ctx, "GET "+name)
		child.End()
		_, update := tr.Start(ctx, "mlgate.update "+name)
		update.End()
		root.SetAttributes(attrs...)
		root.End()
	}
	check("quiet", attribute.Bool(checkChanged, false))
	check("moved", attribute.Bool(checkChanged, true))
	check("unsaid")
	_, other := tr.Start(context.Background(), "POST /routes/{route}/invocations")
	other.End()
	// A child span of another name at the root is not a check.
	ctx, parent := tr.Start(context.Background(), "mlgate.update")
	_, nested := tr.Start(ctx, checkSpan, trace.WithAttributes(attribute.Bool(checkChanged, false)))
	nested.End()
	parent.End()

	got := map[string]int{}
	for _, s := range exp.GetSpans() {
		got[s.Name]++
	}
	want := map[string]int{
		checkSpan: 3, "GET moved": 1, "mlgate.update moved": 1, "GET unsaid": 1, "mlgate.update unsaid": 1,
		"POST /routes/{route}/invocations": 1, "mlgate.update": 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("exported %v; want %v", got, want)
	}
}

// TestQuietChecksBounded: a check with more children than are held is
// exported rather than held without bound, and nothing stays held.
func TestQuietChecksBounded(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	qc := newQuietChecks(sdktrace.NewSimpleSpanProcessor(exp))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(qc))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("test")
	ctx, root := tr.Start(context.Background(), checkSpan)
	for range maxHeldSpans + 5 {
		_, c := tr.Start(ctx, "child")
		c.End()
	}
	root.SetAttributes(attribute.Bool(checkChanged, false))
	root.End()
	if n := len(exp.GetSpans()); n != maxHeldSpans+6 {
		t.Errorf("exported %d spans; want all %d once more than %d were held", n, maxHeldSpans+6, maxHeldSpans)
	}
	for range maxHeldTraces + 3 {
		_, r := tr.Start(context.Background(), checkSpan)
		defer r.End()
	}
	qc.mu.Lock()
	n := len(qc.pending)
	qc.mu.Unlock()
	if n != maxHeldTraces {
		t.Errorf("%d traces held; want at most %d", n, maxHeldTraces)
	}
}
