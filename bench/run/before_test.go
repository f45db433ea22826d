package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadBefore saves a suite, reads it back as the earlier suite and
// renders the before-and-after table against another.
func TestLoadBefore(t *testing.T) {
	results := filepath.Join(t.TempDir(), "results")
	if err := os.MkdirAll(results, 0o755); err != nil {
		t.Fatal(err)
	}
	old := cannedSuite()
	old.Started = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	old.Machine.Commit = "b470bf8"
	old.Servers[1].Command = "bin/mlgate serve --config examples/mlgate.yaml --listen ADDR"
	for i := range old.Runs {
		if r := &old.Runs[i]; (r.Phase == phaseClosed || r.Phase == phaseRound) && r.Server == serverMlgate {
			r.Summary.Throughput /= 2
		}
	}
	path := filepath.Join(results, "before-b470bf8.json")
	if err := saveSuite(path, old); err != nil {
		t.Fatal(err)
	}
	b, err := loadBefore(path, results)
	if err != nil {
		t.Fatal(err)
	}
	if b.File != "before-b470bf8.json" || b.Commit != "b470bf8" || !b.Started.Equal(old.Started) ||
		b.MlgateCommand != old.Servers[1].Command || len(b.Throughput) != len(beforeConns)*len(allServers) {
		t.Fatalf("got %+v; want the saved suite's file, commit, date, mlgate command and 12 throughputs", b)
	}
	if got, want := b.throughput(serverMlgate, 32), old.closedRun(serverMlgate, 32, 1).Summary.Throughput; got != want {
		t.Errorf("mlgate at 32 connections: got %v; want %v", got, want)
	}

	s := cannedSuite()
	s.Before = b
	md := renderMarkdown(s, "bench/results", "")
	for _, want := range []string{
		"### Before and after: mlgate's ratios at commit b470bf8 and now",
		"**Before** is [before-b470bf8.json](bench/results/before-b470bf8.json) (`b470bf8`, 2026-11-20 09:30 UTC)",
		"**after** is this run (`df0c68b`, 2026-11-22 03:00 UTC)",
		// cannedSuite: mlgate 28,000, ceiling 40,000, naive 12,000 req/s
		// from 8 connections; halved mlgate in the earlier suite.
		"| 32 | 0.35× | 0.70× | 1.17× | 2.33× |",
		"| 1 | 0.35× | 0.70× | 1.17× | 2.33× |",
		"mlgate ran as `bin/mlgate serve --config examples/mlgate.yaml --listen ADDR` then.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

func TestLoadBeforeErrors(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"not-json.json": "run: 2026",
		"empty.json":    `{"started": "0001-01-01T00:00:00Z", "runs": []}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadBefore(path, dir); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v; want an error naming the file", name, err)
		}
	}
	if _, err := loadBefore(filepath.Join(dir, "missing.json"), dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v; want a not-exist error", err)
	}
}
