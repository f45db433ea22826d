package infer

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mlgate/mlgate/internal/testutil"
)

// TestChooseWorkers checks the automatic worker count on four lanes: halved
// for mlp256 (a one-row call of tens of µs, several times cheaper per row
// in a batch), kept for churn-gbm v1 (a call of about a microsecond), kept
// when batching is off, and never touched when Workers is set.
func TestChooseWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	mlp := testutil.Path(t, "testdata", "models", "mlp256")
	churn := testutil.RecordedModel(t, "churn-gbm", 1)
	cases := []struct {
		name    string
		dir     string
		cfg     Config
		workers int
		choice  string
	}{
		{"mlp256 auto", mlp, Config{}, 2, "batching makes it cheaper per row"},
		{"mlp256 batching off", mlp, Config{Batching: BatchOff}, 4, "batching off"},
		{"mlp256 set", mlp, Config{Workers: 3}, 3, "set by configuration"},
		{"churn-gbm auto", churn, Config{}, 4, "cheap"},
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
