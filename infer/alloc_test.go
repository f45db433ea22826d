package infer

import (
	"context"
	"testing"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/signature"
)

// TestPredictAllocations holds the request path to zero allocations in Go
// once a worker has tensors for the request's row count: decode, run and
// encode, for one-row and 16-row requests on every recorded model.
func TestPredictAllocations(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under -race; make test runs this test again without it")
	}
	for _, version := range []string{"1", "2", "3", "4"} {
		for _, rows := range []int{1, 16} {
			v := int(version[0] - '0')
			m := load(t, testutil.RecordedModel(t, "churn-gbm", v), Config{Workers: 1})
			body := []byte(batch16Rows(t, version, rows))
			plan := m.Plan()
			dst := make([]byte, 0, 8192)
			ctx := context.Background()
			step := func() {
				b := plan.GetBatch()
				if err := plan.Decode(signature.FormatJSON, body, b); err != nil {
					t.Fatal(err)
				}
				out, err := predictJSON(ctx, m, b, dst[:0])
				if err != nil || len(out) == 0 {
					t.Fatalf("predict: %v", err)
				}
				plan.PutBatch(b)
			}
			step()
			if n := testing.AllocsPerRun(200, step); n != 0 {
				t.Errorf("churn-gbm v%s, %d rows: %v allocations per request; want 0", version, rows, n)
			}
		}
	}
}

// batch16Rows is batch16Body cut to the first rows rows.
func batch16Rows(t *testing.T, version string, rows int) string {
	t.Helper()
	var b batch16
	readJSON(t, &b, "testdata", "mlflow-real", "expected", "batch16-inputs.json")
	b.Rows = b.Rows[:rows]
	b.Float32Rows = b.Float32Rows[:rows]
	for k, v := range b.Float32Columns {
		b.Float32Columns[k] = v[:rows]
	}
	return batchBody(&b, version)
}
