package infer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/signature"
)

// rowsRequest builds a dataframe_split request for churn-gbm v1 from rows of
// the 16-row validation batch.
func rowsRequest(b *batch16, rows []int) string {
	data := make([][]float64, len(rows))
	for i, r := range rows {
		data[i] = b.Rows[r]
	}
	body, _ := json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": b.Columns, "data": data}})
	return string(body)
}

// TestBatchedEqualsUnbatched sends many concurrent requests of 1 to 5 rows
// to models in busy and window mode and checks each answer against the same
// request run alone with batching off.
func TestBatchedEqualsUnbatched(t *testing.T) {
	var b batch16
	readJSON(t, &b, "testdata", "mlflow-real", "expected", "batch16-inputs.json")
	dir := testutil.RecordedModel(t, "churn-gbm", 1)
	ref := load(t, dir, Config{Batching: BatchOff})

	rng := rand.New(rand.NewPCG(1, 2))
	reqs := make([]string, 200)
	for i := range reqs {
		n := 1 + rng.IntN(5)
		rows := make([]int, n)
		for k := range rows {
			rows[k] = rng.IntN(len(b.Rows))
		}
		reqs[i] = rowsRequest(&b, rows)
	}
	want := make([]map[string][]float64, len(reqs))
	for i, r := range reqs {
		want[i] = predictions(t, predict(t, ref, r))
	}

	for _, mode := range []BatchMode{BatchBusy, BatchWindow} {
		t.Run(mode.String(), func(t *testing.T) {
			m := load(t, dir, Config{Batching: mode, Workers: 1, MaxDelay: 2 * time.Millisecond})
			if !m.batchable || !m.bound {
				t.Fatalf("batchable=%v bound=%v; want both (why: %s)", m.batchable, m.bound, m.notBatchable)
			}
			before := m.Stats()
			// Hold the only worker, as a long run would, so that every
			// request queues; then hand the worker over and let the
			// batcher gather them.
			w := m.q.idle[0]
			m.q.mu.Lock()
			m.q.idle = nil
			m.q.mu.Unlock()
			got := make([][]byte, len(reqs))
			errs := make([]error, len(reqs))
			var wg sync.WaitGroup
			totalRows := 0
			for i := range reqs {
				pb := m.Plan().GetBatch()
				if err := m.Plan().Decode(signature.FormatJSON, []byte(reqs[i]), pb); err != nil {
					t.Fatal(err)
				}
				totalRows += pb.Rows
				wg.Go(func() {
					defer m.Plan().PutBatch(pb)
					got[i], errs[i] = predictJSON(context.Background(), m, pb, nil)
				})
			}
			for m.queuedRows() < totalRows {
				time.Sleep(time.Millisecond)
			}
			m.handoff(w)
			wg.Wait()
			st := m.Stats()
			runs, served := st.Runs-before.Runs, st.Requests-before.Requests
			if served != int64(len(reqs)) || runs >= served {
				t.Errorf("%d runs served %d requests; want %d requests in fewer runs (batched)", runs, served, len(reqs))
			}
			t.Logf("%d requests in %d runs", served, runs)
			for i := range reqs {
				if errs[i] != nil {
					t.Fatalf("request %d: %v", i, errs[i])
				}
				g := predictions(t, got[i])
				for name, wv := range want[i] {
					if len(g[name]) != len(wv) {
						t.Fatalf("request %d: %s has %d values; want %d", i, name, len(g[name]), len(wv))
					}
					for k := range wv {
						if d := g[name][k] - wv[k]; d > 1e-6 || d < -1e-6 {
							t.Errorf("request %d: %s[%d] = %v; want %v", i, name, k, g[name][k], wv[k])
						}
					}
				}
			}
		})
	}
}

func TestRefcountDestroysSession(t *testing.T) {
	before := LiveSessions()
	m, err := Load(context.Background(), testutil.RecordedModel(t, "churn-gbm", 2), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := LiveSessions(); got != before+1 {
		t.Fatalf("LiveSessions after Load = %d; want %d", got, before+1)
	}
	if !m.Acquire() {
		t.Fatal("Acquire on a live model failed")
	}
	m.Release() // the owner's reference; the in-flight one keeps it alive
	if got := LiveSessions(); got != before+1 {
		t.Fatalf("LiveSessions with one request in flight = %d; want %d", got, before+1)
	}
	m.Release()
	if got := LiveSessions(); got != before {
		t.Fatalf("LiveSessions after last Release = %d; want %d", got, before)
	}
	if m.Acquire() {
		t.Fatal("Acquire succeeded on a destroyed model")
	}
}

func TestLoadFailures(t *testing.T) {
	v1 := testutil.RecordedModel(t, "churn-gbm", 1)
	copyModel := func(t *testing.T, mutate func(dir string)) string {
		t.Helper()
		dir := t.TempDir()
		entries, err := os.ReadDir(v1)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(v1, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		mutate(dir)
		return dir
	}
	tests := []struct {
		name string
		dir  func(t *testing.T) string
		want string
	}{
		{"no onnx flavor", func(t *testing.T) string { return testutil.RecordedModel(t, "churn-sk", 1) }, "no onnx flavor"},
		{"missing MLmodel", func(t *testing.T) string { return t.TempDir() }, "MLmodel"},
		{"corrupt model.onnx", func(t *testing.T) string {
			return copyModel(t, func(dir string) {
				os.WriteFile(filepath.Join(dir, "model.onnx"), []byte("this is not a protobuf"), 0o644)
			})
		}, "model.onnx"},
		{"truncated model.onnx", func(t *testing.T) string {
			return copyModel(t, func(dir string) {
				data, _ := os.ReadFile(filepath.Join(v1, "model.onnx"))
				os.WriteFile(filepath.Join(dir, "model.onnx"), data[:len(data)/2], 0o644)
			})
		}, "model.onnx"},
		{"signature does not fit the graph", func(t *testing.T) string {
			return copyModel(t, func(dir string) {
				ml, _ := os.ReadFile(filepath.Join(dir, "MLmodel"))
				ml = []byte(strings.Replace(string(ml), `{"type": "long", "name": "contract_months", "required": true}`, `{"type": "long", "name": "contract_months", "required": true}, {"type": "long", "name": "extra", "required": true}`, 1))
				os.WriteFile(filepath.Join(dir, "MLmodel"), ml, 0o644)
			})
		}, "signature"},
	}
	before := LiveSessions()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(context.Background(), tt.dir(t), Config{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v; want one mentioning %q", err, tt.want)
			}
		})
	}
	if got := LiveSessions(); got != before {
		t.Errorf("LiveSessions after failed loads = %d; want %d (sessions leaked)", got, before)
	}
}

func (m *Model) queuedRows() int {
	m.q.mu.Lock()
	defer m.q.mu.Unlock()
	return m.q.queuedRows
}

// TestOverloaded fills the queue of a model with one worker and checks that
// the request beyond the limit is refused with ErrOverloaded while the rest
// complete.
func TestOverloaded(t *testing.T) {
	m := load(t, testutil.RecordedModel(t, "churn-gbm", 1), Config{Workers: 1, QueueRows: 2, Batching: BatchOff})
	w := m.q.idle[0]
	m.q.mu.Lock()
	m.q.idle = nil // hold the only worker, as a long run would
	m.q.mu.Unlock()
	body := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`
	results := make(chan error, 3)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			b := m.Plan().GetBatch()
			if err := m.Plan().Decode(signature.FormatJSON, []byte(body), b); err != nil {
				results <- err
				return
			}
			_, err := predictJSON(context.Background(), m, b, nil)
			results <- err
		})
	}
	for m.queuedRows() < 2 {
		time.Sleep(time.Millisecond)
	}
	b := m.Plan().GetBatch()
	if err := m.Plan().Decode(signature.FormatJSON, []byte(body), b); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Predict(context.Background(), b); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("third request: err = %v; want ErrOverloaded", err)
	}
	// Release the worker the way a finished run does: hand it to the queue.
	m.handoff(w)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Errorf("queued request: %v", err)
		}
	}
}

// TestQueuedDeadline checks that a request whose deadline passes while it
// waits for a worker fails with the context's error and leaves the queue
// usable.
func TestQueuedDeadline(t *testing.T) {
	m := load(t, testutil.RecordedModel(t, "churn-gbm", 1), Config{Workers: 1})
	w := m.q.idle[0]
	m.q.mu.Lock()
	m.q.idle = nil
	m.q.mu.Unlock()
	b := m.Plan().GetBatch()
	body := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`
	if err := m.Plan().Decode(signature.FormatJSON, []byte(body), b); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := m.Predict(ctx, b); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want context.DeadlineExceeded", err)
	}
	m.handoff(w) // the cancelled job is skipped; the worker goes idle
	if got := predict(t, m, body); !strings.Contains(string(got), "0.23261308670043945") {
		t.Fatalf("after a cancelled job: got %s", got)
	}
}

func TestInfo(t *testing.T) {
	m := load(t, testutil.RecordedModel(t, "churn-gbm", 3), Config{Workers: 2})
	info := m.Info()
	if info.Workers != 2 || info.Batching != "busy" || len(info.Inputs) != 4 || len(info.Outputs) != 2 {
		t.Fatalf("Info = %+v", info)
	}
	if got := fmt.Sprint(info.Outputs); got != "[label int64 [-1] probability float32 [-1]]" {
		t.Errorf("outputs %s", got)
	}
}

func runtimeGosched() { time.Sleep(100 * time.Microsecond) }
