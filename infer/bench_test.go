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
	body := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`
	benchRunBinding(b, m, []byte(body), 1)
}

// benchRunBinding decodes body (rows rows) once and times ONNX Runtime
// calls on the first worker's bound tensors for it.
func benchRunBinding(b *testing.B, m *Model, body []byte, rows int) {
	pb := m.Plan().GetBatch()
	defer m.Plan().PutBatch(pb)
	if err := m.Plan().Decode(signature.FormatJSON, body, pb); err != nil {
		b.Fatal(err)
	}
	p, kept, err := m.workers[0].plan(pb, rows, true)
	if err != nil {
		b.Fatal(err)
	}
	if !kept {
		defer p.destroy()
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

// BenchmarkRunMLP measures one ONNX Runtime call on mlp256 (256→512→512→1)
// at several batch sizes, to show what batching can save per row on a
// model whose call is the expensive part. ns/row = ns/op ÷ rows.
func BenchmarkRunMLP(b *testing.B) {
	for _, intra := range []int{1, 2} {
		m, err := Load(context.Background(), testutil.Path(b, "testdata", "models", "mlp256"), Config{Workers: 1, IntraOpThreads: intra})
		if err != nil {
			b.Fatal(err)
		}
		for _, rows := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("intra=%d/rows=%d", intra, rows), func(b *testing.B) {
				benchRunBinding(b, m, mlpBody(rows), rows)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
			})
		}
		m.Release()
	}
}

// mlpBody is an {"inputs": [[...256...], ...]} request of rows rows.
func mlpBody(rows int) []byte {
	body := []byte(`{"inputs": [`)
	for r := range rows {
		if r > 0 {
			body = append(body, ',')
		}
		body = append(body, '[')
		for c := range 256 {
			if c > 0 {
				body = append(body, ',')
			}
			body = fmt.Appendf(body, "%.3f", float64((r*256+c)%97)/97-0.5)
		}
		body = append(body, ']')
	}
	return append(body, "]}"...)
}
