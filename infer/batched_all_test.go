package infer

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/signature"
)

// subsetRequest rebuilds a serving example with only the given rows, in
// that order, whatever its format.
func subsetRequest(t *testing.T, example []byte, rows []int) string {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(example, &body); err != nil {
		t.Fatal(err)
	}
	pick := func(list []any) []any {
		out := make([]any, len(rows))
		for i, r := range rows {
			out[i] = list[r]
		}
		return out
	}
	switch {
	case body["dataframe_split"] != nil:
		split := body["dataframe_split"].(map[string]any)
		split["data"] = pick(split["data"].([]any))
	case body["inputs"] != nil:
		switch in := body["inputs"].(type) {
		case []any:
			body["inputs"] = pick(in)
		case map[string]any:
			for k, v := range in {
				in[k] = pick(v.([]any))
			}
		}
	default:
		t.Fatalf("unsupported example %s", example)
	}
	out, _ := json.Marshal(body)
	return string(out)
}

func exampleRows(t *testing.T, example []byte) int {
	t.Helper()
	var body map[string]any
	json.Unmarshal(example, &body)
	switch {
	case body["dataframe_split"] != nil:
		return len(body["dataframe_split"].(map[string]any)["data"].([]any))
	default:
		switch in := body["inputs"].(type) {
		case []any:
			return len(in)
		case map[string]any:
			for _, v := range in {
				return len(v.([]any))
			}
		}
	}
	t.Fatalf("no rows in %s", example)
	return 0
}

// TestEveryModelBatchedEqualsUnbatched runs, for every recorded and
// generated model that can batch, 60 requests made of shuffled subsets of
// its example rows: gathered into shared runs in busy mode, each answer
// must equal the same request run alone with batching off, to 1e-6.
func TestEveryModelBatchedEqualsUnbatched(t *testing.T) {
	dirs := map[string]string{}
	for v := 1; v <= 4; v++ {
		dirs["churn-gbm-v"+string(rune('0'+v))] = testutil.RecordedModel(t, "churn-gbm", v)
	}
	for _, n := range []string{"mlp256", "zipmap", "dtypes", "nosig", "labelprobs"} {
		dirs[n] = testutil.Path(t, "testdata", "models", n)
	}
	for name, dir := range dirs {
		t.Run(name, func(t *testing.T) {
			example, err := os.ReadFile(filepath.Join(dir, "serving_input_example.json"))
			if err != nil {
				t.Fatal(err)
			}
			n := exampleRows(t, example)
			rng := rand.New(rand.NewPCG(3, uint64(len(name))))
			reqs := make([]string, 60)
			for i := range reqs {
				rows := rng.Perm(n)[:1+rng.IntN(n)]
				reqs[i] = subsetRequest(t, example, rows)
			}
			ref := load(t, dir, Config{Batching: BatchOff})
			want := make([]map[string][]any, len(reqs))
			for i, r := range reqs {
				want[i] = outputsOf(t, predict(t, ref, r))
			}
			m := load(t, dir, Config{Batching: BatchBusy, Workers: 1})
			if !m.batchable {
				t.Fatalf("not batchable: %s", m.notBatchable)
			}
			w := m.q.idle[0]
			m.q.mu.Lock()
			m.q.idle = nil
			m.q.mu.Unlock()
			got := make([][]byte, len(reqs))
			var wg sync.WaitGroup
			total := 0
			for i := range reqs {
				b := m.Plan().GetBatch()
				if err := m.Plan().Decode(signature.FormatJSON, []byte(reqs[i]), b); err != nil {
					t.Fatal(err)
				}
				total += b.Rows
				wg.Go(func() {
					defer m.Plan().PutBatch(b)
					out, err := predictJSON(context.Background(), m, b, nil)
					if err != nil {
						t.Errorf("request %d: %v", i, err)
					}
					got[i] = out
				})
			}
			for m.queuedRows() < total {
				time.Sleep(100 * time.Microsecond)
			}
			before := m.Stats()
			m.handoff(w)
			wg.Wait()
			st := m.Stats()
			if st.Runs-before.Runs >= int64(len(reqs)) {
				t.Errorf("%d runs for %d requests: not batched", st.Runs-before.Runs, len(reqs))
			}
			for i := range reqs {
				g := outputsOf(t, got[i])
				for out, wv := range want[i] {
					if len(g[out]) != len(wv) {
						t.Fatalf("request %d output %s: %d values; want %d", i, out, len(g[out]), len(wv))
					}
					for k := range wv {
						if !sameLeaf(g[out][k], wv[k], 0, 1e-6) {
							t.Errorf("request %d: %s[%d] batched %v; alone %v", i, out, k, g[out][k], wv[k])
						}
					}
				}
			}
		})
	}
}
