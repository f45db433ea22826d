package main

import (
	"flag"
	"io"
	"log/slog"
	"strings"

	"github.com/mlgate/mlgate/telemetry"
)

// flagHelp is returned by flag parsing for -h; the usage has been printed.
var flagHelp = flag.ErrHelp

// newLogger returns mlgate's structured logger: JSON by default, text for
// humans.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	// Records logged with a span in their context carry its trace id.
	return slog.New(telemetry.WithTraceIDs(h))
}

// indent formats a joined error as an indented list, one error per line.
func indent(err error) string {
	var lines []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			lines = append(lines, "  "+e.Error())
		}
	} else {
		lines = append(lines, "  "+err.Error())
	}
	return strings.Join(lines, "\n")
}
