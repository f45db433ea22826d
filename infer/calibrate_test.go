package infer

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/testutil"
)

// TestDecideWorkers checks the worker choice from measured costs, which
// are given here rather than timed, so the outcome is the same on every
// CPU.
func TestDecideWorkers(t *testing.T) {
	const us = time.Microsecond
	cases := []struct {
		name           string
		n              int
		oneRow, perRow time.Duration
		keep           int
		choice         string
	}{
		{"one lane", 1, 40 * us, 5 * us, 1, "one core"},
		{"cheap call", 4, 2 * us, 0, 4, "cheap or slow"},
		{"just under the threshold", 4, calibrateMinRun - 1, calibrateMinRun / 8, 4, "cheap or slow"},
		{"slow call", 4, 20 * time.Millisecond, 0, 4, "cheap or slow"},
		{"expensive, batches well", 4, 40 * us, 7 * us, 2, "batching makes it cheaper per row"},
		{"expensive, batches well, odd lanes", 3, 40 * us, 7 * us, 1, "1 of 3 cores"},
		{"expensive, batches poorly", 4, 40 * us, 30 * us, 4, "saves little"},
		{"at the threshold", 2, calibrateMinRun, calibrateMinRun / 2, 1, "cheaper per row"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keep, choice := decideWorkers(c.n, c.oneRow, c.perRow)
			if keep != c.keep || !strings.Contains(choice, c.choice) {
				t.Errorf("decideWorkers(%d, %s, %s) = %d, %q; want %d and a choice saying %q",
					c.n, c.oneRow, c.perRow, keep, choice, c.keep, c.choice)
			}
		})
	}
}

// TestChooseWorkers checks the automatic worker count on four lanes, end
// to end through Load: halved for a model whose call is expensive and much
// cheaper per row in a batch, kept for a cheap call, kept when batching is
// off, and never touched when Workers is set. The call costs are injected
// (callCost), mlp256's as measured on the reference machine (about 38 µs a
// row alone, 7 µs a row in a batch) and churn-gbm's (about 1 µs), so the
// choice does not depend on this machine's speed; the calls still run.
func TestChooseWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	mlp := testutil.Path(t, "testdata", "models", "mlp256")
	churn := testutil.RecordedModel(t, "churn-gbm", 1)
	mlpCost := func(requests, rows int) time.Duration {
		if requests == 1 {
			return time.Duration(rows) * 38 * time.Microsecond
		}
		return time.Duration(rows) * 7 * time.Microsecond
	}
	churnCost := func(_, rows int) time.Duration { return time.Duration(rows) * time.Microsecond }
	cases := []struct {
		name    string
		dir     string
		cfg     Config
		workers int
		choice  string
	}{
		{"mlp256 auto", mlp, Config{callCost: mlpCost}, 2, "batching makes it cheaper per row"},
		{"mlp256 batching off", mlp, Config{Batching: BatchOff, callCost: mlpCost}, 4, "batching off"},
		{"mlp256 set", mlp, Config{Workers: 3, callCost: mlpCost}, 3, "set by configuration"},
		{"churn-gbm auto", churn, Config{callCost: churnCost}, 4, "cheap"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := load(t, c.dir, c.cfg)
			info := m.Info()
			if info.Workers != c.workers || !strings.Contains(info.Calibration.Choice, c.choice) {
				t.Fatalf("workers %d, calibration %+v; want %d workers and a choice saying %q", info.Workers, info.Calibration, c.workers, c.choice)
			}
			if c.cfg.Workers == 0 && c.cfg.Batching == BatchBusy && info.Calibration.OneRow <= 0 {
				t.Errorf("calibration %+v: no one-row time", info.Calibration)
			}
			// The remaining workers serve, and agree with the model's own example.
			body, err := os.ReadFile(filepath.Join(c.dir, "serving_input_example.json"))
			if err != nil {
				t.Fatal(err)
			}
			want := predict(t, load(t, c.dir, Config{Workers: 1, Batching: BatchOff}), string(body))
			if got := predict(t, m, string(body)); string(got) != string(want) {
				t.Errorf("prediction %s; want %s", got, want)
			}
		})
	}
}
