package main

import (
	"bytes"
	"errors"
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
