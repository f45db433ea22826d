package telemetry

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Throttle rate-limits repeated log records: for each key, at most one
// record per interval reaches the logger. The others are counted, in
// mlgate.log.suppressed and in a suppressed=<n> attribute on the key's
// next record. It is meant for errors that can repeat on every request.
// It is safe for concurrent use.
type Throttle struct {
	log        *slog.Logger
	every      time.Duration
	suppressed metric.Int64Counter // nil: not counted
	now        func() time.Time
	traceIDs   bool // add trace_id and span_id (the handler does not)

	mu   sync.Mutex
	keys map[string]*throttleKey
}

// throttleKey is one key's state.
type throttleKey struct {
	last    time.Time // when the last record was emitted
	skipped int64     // records suppressed since
	opts    []metric.AddOption
}

// ThrottleOption adjusts a Throttle.
type ThrottleOption func(*Throttle)

// WithClock makes the Throttle read the time from now instead of
// time.Now.
func WithClock(now func() time.Time) ThrottleOption {
	return func(t *Throttle) { t.now = now }
}

// NewThrottle returns a Throttle writing to logger (nil means
// slog.Default()) at most one record per key per every, counting the
// records it suppresses in suppressed (nil means not counted). every of
// zero or less suppresses nothing.
func NewThrottle(logger *slog.Logger, every time.Duration, suppressed metric.Int64Counter, opts ...ThrottleOption) *Throttle {
	if logger == nil {
		logger = slog.Default()
	}
	_, wrapped := logger.Handler().(*traceHandler)
	t := &Throttle{
		log: logger, every: every, suppressed: suppressed, now: time.Now,
		traceIDs: !wrapped, keys: map[string]*throttleKey{},
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Log writes a record with level, msg and attrs unless a record with the
// same key was written less than the interval ago; then it only counts
// it. The record that ends a quiet period carries suppressed=<n> when n
// records were suppressed before it, and trace_id and span_id when ctx
// carries a span (added by the logger's handler instead when it came from
// WithTraceIDs). key must come from a fixed set (it becomes a metric
// attribute), such as "predict/<route>". Records below the logger's level
// are neither written nor counted. Log does not allocate when it
// suppresses a record.
func (t *Throttle) Log(ctx context.Context, level slog.Level, key, msg string, attrs ...slog.Attr) {
	h := t.log.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	now := t.now()
	t.mu.Lock()
	k, ok := t.keys[key]
	if ok && t.every > 0 && now.Sub(k.last) < t.every {
		k.skipped++
		opts := k.opts
		t.mu.Unlock()
		if t.suppressed != nil {
			t.suppressed.Add(ctx, 1, opts...)
		}
		return
	}
	if !ok {
		k = &throttleKey{opts: []metric.AddOption{
			metric.WithAttributeSet(attribute.NewSet(keyLogKey.String(key))),
		}}
		t.keys[key] = k
	}
	skipped := k.skipped
	k.last, k.skipped = now, 0
	t.mu.Unlock()

	var pcs [1]uintptr
	runtime.Callers(2, pcs[:]) // the caller of Log
	r := slog.NewRecord(now, level, msg, pcs[0])
	r.AddAttrs(attrs...)
	if skipped > 0 {
		r.AddAttrs(slog.Int64("suppressed", skipped))
	}
	if t.traceIDs {
		addTraceIDs(ctx, &r)
	}
	_ = h.Handle(ctx, r)
}

// addTraceIDs adds trace_id and span_id when ctx carries a valid span
// context.
func addTraceIDs(ctx context.Context, r *slog.Record) {
	if ctx == nil {
		return
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
}
