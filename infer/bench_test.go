package infer

import (
	"context"
	"fmt"
	"testing"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/signature"
)

// BenchmarkPredict measures decode + ONNX Runtime run + encode for one
// request on each recorded model (serially, one worker).
func BenchmarkPredict(b *testing.B) {
	for _, version := range []string{"1", "2", "3", "4"} {
		for _, rows := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("v%s/rows=%d", version, rows), func(b *testing.B) {
				m, err := Load(context.Background(), testutil.RecordedModel(b, "churn-gbm", int(version[0]-'0')), Config{Workers: 1})
				if err != nil {
					b.Fatal(err)
				}
				defer m.Release()
				body := []byte(benchBody(b, version, rows))
				plan := m.Plan()
				dst := make([]byte, 0, 64<<10)
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					pb := plan.GetBatch()
					if err := plan.Decode(signature.FormatJSON, body, pb); err != nil {
						b.Fatal(err)
					}
					if _, err := m.Predict(context.Background(), pb, dst[:0]); err != nil {
						b.Fatal(err)
					}
					plan.PutBatch(pb)
				}
			})
		}
	}
}

// BenchmarkRun measures the ONNX Runtime call alone (tensors already
// filled) for one row.
func BenchmarkRun(b *testing.B) {
	m, err := Load(context.Background(), testutil.RecordedModel(b, "churn-gbm", 1), Config{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Release()
	w := m.workers[0]
	pb := m.Plan().GetBatch()
	body := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`
	if err := m.Plan().Decode(signature.FormatJSON, []byte(body), pb); err != nil {
		b.Fatal(err)
	}
	p, err := w.plan(pb, 1, true)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.session.RunWithBinding(p.binding); err != nil {
			b.Fatal(err)
		}
	}
}

func benchBody(b *testing.B, version string, rows int) string {
	var src batch16
	readJSONTB(b, &src, "testdata", "mlflow-real", "expected", "batch16-inputs.json")
	for len(src.Rows) < rows {
		src.Rows = append(src.Rows, src.Rows...)
		src.Float32Rows = append(src.Float32Rows, src.Float32Rows...)
		for k, v := range src.Float32Columns {
			src.Float32Columns[k] = append(v, v...)
		}
	}
	src.Rows, src.Float32Rows = src.Rows[:rows], src.Float32Rows[:rows]
	for k, v := range src.Float32Columns {
		src.Float32Columns[k] = v[:rows]
	}
	return batchBody(&src, version)
}
