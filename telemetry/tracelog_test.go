package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestWithTraceIDs(t *testing.T) {
	spanCtx, sc := spanContext(t)
	tests := []struct {
		name string
		ctx  context.Context
		log  func(l *slog.Logger, ctx context.Context)
		want map[string]any // fields of the JSON line besides time, level, msg
	}{
		{"span in context", spanCtx,
			func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m", "route", "churn") },
			map[string]any{"route": "churn", "trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()}},
		{"no span", context.Background(),
			func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m", "route", "churn") },
			map[string]any{"route": "churn"}},
		{"no context", nil,
			func(l *slog.Logger, _ context.Context) { l.Info("m", "route", "churn") },
			map[string]any{"route": "churn"}},
		{"With keeps the ids", spanCtx,
			func(l *slog.Logger, ctx context.Context) { l.With("model", "churn-gbm").InfoContext(ctx, "m") },
			map[string]any{"model": "churn-gbm", "trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()}},
		{"many attributes", spanCtx,
			func(l *slog.Logger, ctx context.Context) {
				l.InfoContext(ctx, "m", "a", 1, "b", 2, "c", 3, "d", 4, "e", 5, "f", 6)
			},
			map[string]any{"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "e": 5.0, "f": 6.0,
				"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()}},
		{"group", spanCtx,
			func(l *slog.Logger, ctx context.Context) { l.WithGroup("g").InfoContext(ctx, "m", "k", "v") },
			map[string]any{"g": map[string]any{"k": "v", "trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			// Wrapping twice must not add the ids twice.
			l := slog.New(WithTraceIDs(WithTraceIDs(slog.NewJSONHandler(&buf, nil))))
			tt.log(l, tt.ctx)
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("log line %q: %v", buf.String(), err)
			}
			delete(got, "time")
			delete(got, "level")
			delete(got, "msg")
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tt.want)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("got fields %s; want %s", gotJSON, wantJSON)
			}
			if bytes.Count(buf.Bytes(), []byte(`"trace_id"`)) > 1 {
				t.Errorf("trace_id logged more than once: %s", buf.String())
			}
		})
	}
}

func TestWithTraceIDsKeepsLevel(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(WithTraceIDs(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, _ := spanContext(t)
	l.InfoContext(ctx, "dropped")
	if buf.Len() != 0 {
		t.Errorf("got %q below the handler's level; want nothing", buf.String())
	}
	if !l.Enabled(ctx, slog.LevelWarn) || l.Enabled(ctx, slog.LevelInfo) {
		t.Error("Enabled does not follow the wrapped handler's level")
	}
}
