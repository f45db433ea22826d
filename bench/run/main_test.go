package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/loadtest"
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
		"[report](bench/results/reports/closed-c8-r1-mlgate.html)",
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
	before := filepath.Join(t.TempDir(), "suite.json")
	if err := os.WriteFile(before, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
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
		{[]string{"-phases", "threads,batching"}, allServers, false, false},
		{[]string{"-phases", "matrix"}, nil, false, true},
		{[]string{"-before", before}, allServers, false, false},
		{[]string{"-before", filepath.Join(t.TempDir(), "missing.json")}, nil, false, true},
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

func TestParseOptionsPhasesAndBefore(t *testing.T) {
	root, err := testutil.FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	o, err := parseOptions([]string{"-phases", "threads, headline"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{phaseHeadline, phaseThreads}; !slices.Equal(o.phases, want) {
		t.Errorf("-phases: got %v; want %v", o.phases, want)
	}
	_, statErr := os.Stat(filepath.Join(root, defaultBefore))
	if want := filepath.Join(root, defaultBefore); (statErr == nil) != (o.before == want) {
		t.Errorf("default -before: got %q (the default file exists: %v); want %q exactly when it exists", o.before, statErr == nil, want)
	}
	if o, err = parseOptions([]string{"-before", "none"}, &strings.Builder{}); err != nil || o.before != "" {
		t.Errorf("-before none: got %q, %v; want no file", o.before, err)
	}
}

// TestLoadSkipsExitedServer stops a server behind the harness's back and
// checks that its remaining runs are skipped and reported, not measured
// and not fatal.
func TestLoadSkipsExitedServer(t *testing.T) {
	results := t.TempDir()
	for _, dir := range []string{reportsDir, logsDir} {
		if err := os.MkdirAll(filepath.Join(results, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	spec := fakeSpec(t, "ok")
	p, err := startServer(context.Background(), spec, t.TempDir(), filepath.Join(results, logsDir, "fake.log"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		opts:  options{results: results},
		plan:  quickPlan(),
		logf:  t.Logf,
		suite: &Suite{},
		procs: map[string]*process{"fake": p},
		bench: io.Discard,
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	for _, id := range []string{"one", "two"} {
		run := RunResult{ID: id, Server: "fake", Phase: phaseClosed, Connections: 1, Rows: 1}
		cfg := loadtest.Config{Connections: 1, Duration: time.Second, Payload: loadtest.Payload{Bodies: [][]byte{[]byte("{}")}}}
		if err := h.load(context.Background(), run, cfg, "x", loadExtras{}); err != nil {
			t.Fatalf("load %s: %v", id, err)
		}
	}
	if err := h.stopAll(); err != nil {
		t.Fatalf("stopAll: %v", err)
	}
	if len(h.suite.Runs) != 0 {
		t.Errorf("got %d runs; want none against an exited server", len(h.suite.Runs))
	}
	want := "fake had exited (exit status 0) before 2 of its runs, which were not made: one, two."
	if len(h.suite.Problems) != 1 || h.suite.Problems[0] != want {
		t.Errorf("problems: got %q; want [%q]", h.suite.Problems, want)
	}
}

func TestParseOptionsClientsBaselineAndPGO(t *testing.T) {
	old := filepath.Join(t.TempDir(), "mlgate-old")
	if err := os.WriteFile(old, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    []string
		wantErr string
		check   func(options) string
	}{
		{args: nil, check: func(o options) string {
			if !slices.Equal(o.clients, allClients) || !slices.Equal(o.phases, defaultPhases) || o.pgo != "" || o.baselineBin != "" {
				return "want both clients, the default phases, no pgo and no baseline"
			}
			return ""
		}},
		{args: []string{"-clients", "wrk"}, check: func(o options) string {
			if !slices.Equal(o.clients, []string{clientWrk}) {
				return "want wrk alone"
			}
			return ""
		}},
		{args: []string{"-clients", "ab"}, wantErr: `-clients: unknown name "ab"`},
		{args: []string{"-pgo", "default.pgo", "-phases", "headline"}, check: func(o options) string {
			if !slices.Equal(o.phases, []string{phaseHeadline, phasePGO}) || !filepath.IsAbs(o.pgo) {
				return "want the pgo phase added and an absolute profile path"
			}
			return ""
		}},
		{args: []string{"-phases", "pgo"}, wantErr: "-phases pgo needs -pgo FILE"},
		{args: []string{"-baseline-bin", old, "-lever", "body-once", "-rounds", "8"}, check: func(o options) string {
			if o.baselineBin != old || o.lever != "body-once" || o.plan().rounds != 8 {
				return "want the baseline, the lever and 8 rounds"
			}
			return ""
		}},
		{args: []string{"-baseline-bin", filepath.Join(t.TempDir(), "missing")}, wantErr: "-baseline-bin"},
		{args: []string{"-baseline-bin", old, "-servers", "ceiling"}, wantErr: "needs mlgate"},
		{args: []string{"-lever", "body-once"}, wantErr: "-lever needs -baseline-bin"},
		{args: []string{"-baseline-bin", old, "-lever", "faster"}, wantErr: `unknown lever "faster"`},
		{args: []string{"-rounds", "-1"}, wantErr: "-rounds"},
		{args: []string{"-quick", "-duration", "1500ms"}, check: func(o options) string {
			if p := o.plan(); p.roundDuration != 2*time.Second || p.duration != 1500*time.Millisecond {
				return "want wrk's window rounded up to 2s and the others at 1.5s"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		o, err := parseOptions(tt.args, &strings.Builder{})
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseOptions(%q): got %v; want an error containing %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseOptions(%q): %v", tt.args, err)
			continue
		}
		if msg := tt.check(o); msg != "" {
			t.Errorf("parseOptions(%q): %s; got %+v", tt.args, msg, o)
		}
	}
}
