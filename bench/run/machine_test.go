package main

import (
	"context"
	"testing"

	"github.com/mlgate/mlgate/internal/testutil"
)

func TestCPUModel(t *testing.T) {
	if got, want := cpuModel("testdata/cpuinfo"), "AMD EPYC 7B13 64-Core Processor"; got != want {
		t.Errorf("cpuModel: got %q; want %q", got, want)
	}
	if got := cpuModel("testdata/does-not-exist"); got != "unknown" {
		t.Errorf("cpuModel of a missing file: got %q; want unknown", got)
	}
}

func TestDescribeMachine(t *testing.T) {
	m := describeMachine(context.Background(), testutil.RepoRoot(t))
	if m.CPUs <= 0 || m.GoVersion == "" || m.Kernel == "unknown" || m.Commit == "unknown" {
		t.Errorf("describeMachine: got %+v; want CPUs, Go version, kernel and commit", m)
	}
}
