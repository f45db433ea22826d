package main

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

// FuzzReplaceGenerated checks the marker replacement on arbitrary files:
// either the file is refused (no marker line) or everything up to the
// first marker line is kept byte for byte and the generated section
// follows it.
func FuzzReplaceGenerated(f *testing.F) {
	f.Add([]byte("# Benchmarks\n\n"+generatedMarker+"\n\nold\n"), "new\n")
	f.Add([]byte(generatedMarker), "")
	f.Add([]byte("no marker\n"), "x")
	f.Add([]byte("a\r\n"+generatedMarker+"\r\nold"), "new")
	f.Fuzz(func(t *testing.T, existing []byte, gen string) {
		if existing == nil {
			existing = []byte{}
		}
		got, err := replaceGenerated(existing, gen)
		if err != nil {
			if !errors.Is(err, errNoMarker) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !strings.HasSuffix(string(got), "\n"+gen) {
			t.Fatalf("output does not end with the generated section")
		}
		head := got[:len(got)-len(gen)-1]
		if !bytes.HasPrefix(existing, bytes.TrimSuffix(head, []byte("\n"))) {
			t.Fatalf("kept part %q is not a prefix of the file", head)
		}
		lines := strings.Split(strings.TrimSuffix(string(head), "\n"), "\n")
		if last := strings.TrimSpace(lines[len(lines)-1]); last != generatedMarker {
			t.Fatalf("kept part ends with %q; want the marker line", last)
		}
		again, err := replaceGenerated(got, gen)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("regenerating the output changed it (err %v)", err)
		}
	})
}

// FuzzParsePprofTop checks the pprof -top reader on arbitrary text: it
// never panics, and what it accepts splits into categories that account
// for every row and for the dropped remainder of the total.
func FuzzParsePprofTop(f *testing.F) {
	f.Add([]byte("Duration: 4s, Total samples = 3.03s (75.73%)\n      flat  flat%   sum%        cum   cum%\n     1.26s 41.58% 41.58%      1.26s 41.58%  internal/runtime/syscall/linux.Syscall6\n"))
	f.Add([]byte("Total samples = 850ms\n flat flat% sum% cum cum%\n 0 0% 0% 610ms 71.76%  main.f (inline)\n"))
	f.Add([]byte("Total samples = 0\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		total, rows, err := parsePprofTop(out)
		if err != nil {
			return
		}
		if !(total > 0) {
			t.Fatalf("accepted a total of %v", total)
		}
		var flat, cats float64
		for _, r := range rows {
			if r.Function == "" {
				t.Fatalf("row %+v has no function", r)
			}
			flat += r.Flat
		}
		for _, c := range categoryTimes(total, rows) {
			cats += c.Seconds
		}
		want := flat + max(0, total-flat)
		if math.Abs(cats-want) > 1e-6*max(1, math.Abs(want)) {
			t.Fatalf("categories add up to %v; want %v (rows %v, total %v)", cats, want, flat, total)
		}
	})
}
