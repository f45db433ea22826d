package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/mlgate/mlgate/infer"
	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/signature"
)

// TestMixedGoodAndBadRequests sends valid and invalid requests at the same
// time to a compute-heavy model that batches (the 256-512-512-1 MLP, slow
// enough per run that concurrent requests queue and share runs): each
// invalid request gets its own 400, and every valid one gets exactly the
// answer it gets alone.
func TestMixedGoodAndBadRequests(t *testing.T) {
	dir := testutil.Path(t, "testdata", "models", "mlp256")
	load := func(mode infer.BatchMode) *infer.Model {
		m, err := infer.Load(t.Context(), dir, infer.Config{Workers: 1, Batching: mode})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Release)
		return m
	}
	ref, m := load(infer.BatchOff), load(infer.BatchBusy)
	ts := startServer(t, Config{}, []RouteSpec{{Name: "mlp", Targets: []TargetSpec{{URI: "models:/mlp256@champion", Alias: "champion"}}}},
		map[string]Model{"models:/mlp256@champion": m})

	rng := rand.New(rand.NewPCG(5, 8))
	row := func(width int) string {
		v := make([]string, width)
		for i := range v {
			v[i] = fmt.Sprintf("%.3f", rng.Float64()*2-1)
		}
		return "[" + strings.Join(v, ", ") + "]"
	}
	type req struct {
		body string
		want string // "" for an invalid request
	}
	reqs := make([]req, 240)
	for i := range reqs {
		switch i % 4 {
		case 0: // wrong width: a shape error
			reqs[i].body = `{"inputs": [` + row(255) + `]}`
		case 1: // a value that is not a number
			reqs[i].body = `{"inputs": [["x"` + strings.Repeat(", 0", 255) + `]]}`
		default:
			rows := make([]string, 8+i%17)
			for k := range rows {
				rows[k] = row(256)
			}
			reqs[i].body = `{"inputs": [` + strings.Join(rows, ", ") + `]}`
			b := ref.Plan().GetBatch()
			if err := ref.Plan().Decode(signature.FormatJSON, []byte(reqs[i].body), b); err != nil {
				t.Fatal(err)
			}
			out, err := predict(context.Background(), ref, b, signature.Encoding{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ref.Plan().PutBatch(b)
			reqs[i].want = string(out)
		}
	}
	before := m.Stats()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				resp, err := client.Post(ts.url+"/routes/mlp/invocations", "application/json", strings.NewReader(reqs[i].body))
				if err != nil {
					t.Error(err)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if reqs[i].want == "" {
					var e struct {
						Code string `json:"error_code"`
					}
					if resp.StatusCode != 400 || json.Unmarshal(body, &e) != nil || e.Code == "" {
						t.Errorf("invalid request %d: %d %s", i, resp.StatusCode, body)
					}
					continue
				}
				if resp.StatusCode != 200 || !sameNumbers(t, body, reqs[i].want) {
					t.Errorf("valid request %d: %d %s; want %s", i, resp.StatusCode, body, reqs[i].want)
				}
			}
		})
	}
	for i := range reqs {
		next <- i
	}
	close(next)
	wg.Wait()
	st := m.Stats()
	t.Logf("%d valid requests ran in %d ONNX Runtime runs", st.Requests-before.Requests, st.Runs-before.Runs)
}

// sameNumbers compares two {"predictions": ...} bodies number by number to
// 1e-6 (a row may take another kernel path inside a larger batch).
func sameNumbers(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w struct{ Predictions map[string][][]float64 }
	if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	for k, wv := range w.Predictions {
		gv := g.Predictions[k]
		if len(gv) != len(wv) {
			return false
		}
		for i := range wv {
			for j := range wv[i] {
				if d := gv[i][j] - wv[i][j]; d > 1e-6 || d < -1e-6 {
					return false
				}
			}
		}
	}
	return true
}
