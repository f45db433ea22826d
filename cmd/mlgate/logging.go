package main

import (
	"flag"
	"io"
	"log/slog"
	"strings"
)

// flagHelp is returned by flag parsing for -h; the usage has been printed.
var flagHelp = flag.ErrHelp

// newLogger returns mlgate's structured logger: JSON by default, text for
// humans.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
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
