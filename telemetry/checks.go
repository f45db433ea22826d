package telemetry

import (
	"context"
	"sync"
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The registry watcher's checks: each is the root of its own trace, named
// checkSpan, and says with the boolean attribute checkChanged whether it
// changed anything (resolver.CheckSpan and resolver.CheckChanged; telemetry
// imports no mlgate package, so the names are repeated here).
const (
	checkSpan    = "mlgate.check"
	checkChanged = "mlgate.check.changed"
)

// Bounds of what quietChecks holds: traces waiting for their root, and
// spans per trace. Beyond them, spans go on unheld (exported), never
// dropped.
const (
	maxHeldTraces = 256
	maxHeldSpans  = 128
)

// quietChecks is a span processor in front of the exporter's: it holds the
// spans of every check's trace until the check ends, then drops them all
// when the check changed nothing and passes them on otherwise. Polling
// every 5 s, a check a URI would otherwise export some 17,000 traces a day
// per replica that say only "nothing changed"; the ones that found a new
// version, an error or a vanished alias are kept whole.
type quietChecks struct {
	next sdktrace.SpanProcessor
	held atomic.Int64 // len(pending), read without the lock on OnEnd

	mu      sync.Mutex
	pending map[trace.TraceID]*heldTrace
}

type heldTrace struct {
	root  trace.SpanID
	spans []sdktrace.ReadOnlySpan
}

var _ sdktrace.SpanProcessor = (*quietChecks)(nil)

func newQuietChecks(next sdktrace.SpanProcessor) *quietChecks {
	return &quietChecks{next: next, pending: map[trace.TraceID]*heldTrace{}}
}

func (q *quietChecks) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) {
	if !s.Parent().IsValid() && s.Name() == checkSpan {
		sc := s.SpanContext()
		q.mu.Lock()
		if len(q.pending) < maxHeldTraces {
			q.pending[sc.TraceID()] = &heldTrace{root: sc.SpanID()}
			q.held.Store(int64(len(q.pending)))
		}
		q.mu.Unlock()
	}
	q.next.OnStart(ctx, s)
}

func (q *quietChecks) OnEnd(s sdktrace.ReadOnlySpan) {
	if q.held.Load() == 0 {
		q.next.OnEnd(s)
		return
	}
	sc := s.SpanContext()
	q.mu.Lock()
	h := q.pending[sc.TraceID()]
	if h == nil {
		q.mu.Unlock()
		q.next.OnEnd(s)
		return
	}
	if sc.SpanID() != h.root && len(h.spans) < maxHeldSpans {
		h.spans = append(h.spans, s)
		q.mu.Unlock()
		return
	}
	delete(q.pending, sc.TraceID())
	q.held.Store(int64(len(q.pending)))
	q.mu.Unlock()
	if sc.SpanID() == h.root && !changed(s) {
		return
	}
	for _, held := range h.spans {
		q.next.OnEnd(held)
	}
	q.next.OnEnd(s)
}

// changed reports whether a check's root span says it changed something;
// one that does not say is kept.
func changed(s sdktrace.ReadOnlySpan) bool {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == checkChanged {
			return kv.Value.AsBool()
		}
	}
	return true
}

func (q *quietChecks) Shutdown(ctx context.Context) error   { return q.next.Shutdown(ctx) }
func (q *quietChecks) ForceFlush(ctx context.Context) error { return q.next.ForceFlush(ctx) }
