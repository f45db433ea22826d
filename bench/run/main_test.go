package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRemoveStaleReports(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"closed-c32-r1-mlgate.html", "open-95pct-mlgate.html", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &Suite{Runs: []RunResult{{Report: "reports/closed-c32-r1-mlgate.html"}}}
	if err := removeStaleReports(dir, s); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if want := []string{"closed-c32-r1-mlgate.html", "notes.txt"}; !slices.Equal(got, want) {
		t.Errorf("files left: got %v; want %v", got, want)
	}
}

// TestWriteOutputs writes a suite twice into a BENCHMARKS.md with a
// hand-written introduction, then re-renders it from suite.json, as
// `go run ./bench/run -render` does.
func TestWriteOutputs(t *testing.T) {
	dir := t.TempDir()
	opts := options{results: filepath.Join(dir, "bench", "results"), out: filepath.Join(dir, "BENCHMARKS.md")}
	if err := os.MkdirAll(opts.results, 0o755); err != nil {
		t.Fatal(err)
	}
	intro := "# Benchmarks\n\nHand-written.\n\n" + generatedMarker + "\n"
	if err := os.WriteFile(opts.out, []byte(intro+"old results\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := cannedSuite()
	if err := writeOutputs(opts, s); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(opts.out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(md), intro+"\n## Results of 2026-11-22 03:00 UTC\n") {
		t.Errorf("BENCHMARKS.md starts:\n%.300s\nwant the introduction, then the results", md)
	}
	if strings.Contains(string(md), "old results") {
		t.Error("BENCHMARKS.md still holds the old results")
	}
	for _, want := range []string{
		"![p50 and p99 latency against offered load](bench/results/latency-vs-load.svg)",
		"[report](bench/results/reports/closed-c32-r1-mlgate.html)",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("BENCHMARKS.md lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(opts.results, chartFile)); err != nil {
		t.Errorf("chart: %v", err)
	}

	if err := saveSuite(filepath.Join(opts.results, suiteFile), s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(opts.out, []byte(intro+"edited by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rerender(opts); err != nil {
		t.Fatal(err)
	}
	again, err := os.ReadFile(opts.out)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(md) {
		t.Error("re-rendering from suite.json gave a different BENCHMARKS.md")
	}
}

func TestWriteOutputsKeepsUnmarkedFile(t *testing.T) {
	dir := t.TempDir()
	opts := options{results: dir, out: filepath.Join(dir, "BENCHMARKS.md")}
	const text = "# Benchmarks\n\nNo marker here.\n"
	if err := os.WriteFile(opts.out, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeOutputs(opts, cannedSuite()); err == nil {
		t.Fatal("got no error; want one for the missing marker")
	}
	if b, _ := os.ReadFile(opts.out); string(b) != text {
		t.Errorf("file changed to:\n%s", b)
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		args        []string
		wantServers []string
		wantQuick   bool
		wantErr     bool
	}{
		{nil, allServers, false, false},
		{[]string{"-quick", "-servers", "naive, ceiling"}, []string{serverCeiling, serverNaive}, true, false},
		{[]string{"-servers", "mlgate,mlgate"}, []string{serverMlgate}, false, false},
		{[]string{"-servers", "mlflow"}, nil, false, true},
		{[]string{"-duration", "-1s"}, nil, false, true},
		{[]string{"extra"}, nil, false, true},
	}
	for _, tt := range tests {
		o, err := parseOptions(tt.args, &strings.Builder{})
		if (err != nil) != tt.wantErr {
			t.Errorf("parseOptions(%q): got error %v; want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if !slices.Equal(o.servers, tt.wantServers) || o.quick != tt.wantQuick {
			t.Errorf("parseOptions(%q): got servers %v, quick %v; want %v, %v", tt.args, o.servers, o.quick, tt.wantServers, tt.wantQuick)
		}
		if !filepath.IsAbs(o.results) || !filepath.IsAbs(o.out) || !filepath.IsAbs(o.binDir) {
			t.Errorf("parseOptions(%q): paths not absolute: %q %q %q", tt.args, o.results, o.out, o.binDir)
		}
		if tt.wantQuick && !strings.HasSuffix(o.out, filepath.Join("bench", "results", "quick", "BENCHMARKS.md")) {
			t.Errorf("parseOptions(%q): out %q; want it under bench/results/quick", tt.args, o.out)
		}
	}
}
