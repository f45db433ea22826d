package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// WithTraceIDs returns a handler that passes records to h, adding
// trace_id and span_id attributes to those logged with a context carrying
// a valid span context (as Logger.InfoContext and friends do). Inside a
// group opened with WithGroup the two attributes land in that group, like
// any attribute added by Handle.
func WithTraceIDs(h slog.Handler) slog.Handler {
	if th, ok := h.(*traceHandler); ok {
		return th
	}
	return &traceHandler{h: h}
}

// traceHandler is the handler WithTraceIDs returns.
type traceHandler struct{ h slog.Handler }

func (t *traceHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return t.h.Enabled(ctx, level)
}

func (t *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil && trace.SpanContextFromContext(ctx).IsValid() {
		r = r.Clone()
		addTraceIDs(ctx, &r)
	}
	return t.h.Handle(ctx, r)
}

func (t *traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &traceHandler{h: t.h.WithAttrs(attrs)}
}

func (t *traceHandler) WithGroup(name string) slog.Handler {
	return &traceHandler{h: t.h.WithGroup(name)}
}
