package signature

import (
	"strconv"
	"testing"
)

// BenchmarkDecode decodes one-row and 16-row requests in each format the
// recorded models take, into a warm batch.
func BenchmarkDecode(b *testing.B) {
	want := loadBatch16(b)
	models := []struct {
		name    string
		version int
		formats []string
	}{
		{"churn-gbm", 1, []string{"dataframe_split", "dataframe_records", "instances-records", "inputs-columns", "csv"}},
		{"churn-gbm", 2, []string{"dataframe_split", "inputs-rows"}},
		{"churn-gbm", 3, []string{"dataframe_split", "inputs-columns"}},
	}
	for _, rows := range []int{1, 16} {
		reqs := requestsFor(b, want, rows)
		for _, m := range models {
			p := recordedPlan(b, m.name, m.version)
			for _, format := range m.formats {
				r := reqs[format]
				body := []byte(r.body)
				b.Run("v"+strconv.Itoa(m.version)+"/"+format+"/rows="+strconv.Itoa(rows), func(b *testing.B) {
					batch := p.GetBatch()
					defer p.PutBatch(batch)
					b.ReportAllocs()
					b.SetBytes(int64(len(body)))
					for b.Loop() {
						if err := p.Decode(r.format, body, batch); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkDecodeParallel decodes 16-row dataframe_split requests from many
// goroutines, each taking a batch from the pool per request.
func BenchmarkDecodeParallel(b *testing.B) {
	p := recordedPlan(b, "churn-gbm", 1)
	body := []byte(requestsFor(b, loadBatch16(b), 16)["dataframe_split"].body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			batch := p.GetBatch()
			if err := p.Decode(FormatJSON, body, batch); err != nil {
				b.Fatal(err)
			}
			p.PutBatch(batch)
		}
	})
}

// BenchmarkEncode writes 16-row predictions of churn-gbm v3's outputs (label
// int64, probability float32) in both shapes.
func BenchmarkEncode(b *testing.B) {
	outs := []Output{
		{Name: "label", DType: Int64, Shape: []int64{16}, I64: make([]int64, 16)},
		{Name: "probability", DType: Float32, Shape: []int64{16}, F32: make([]float32, 16)},
	}
	for i := range 16 {
		outs[0].I64[i] = int64(i % 2)
		outs[1].F32[i] = float32(i+1) / 17
	}
	for _, records := range []bool{true, false} {
		b.Run("records="+strconv.FormatBool(records), func(b *testing.B) {
			dst := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = AppendPredictions(dst[:0], records, outs); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(dst)))
		})
	}
}

// BenchmarkMeasure compares the pass that measures a request (which serve
// runs before admitting it) with decoding the same request, for 16 rows
// and for 100k rows of churn-gbm v1's dataframe_split.
func BenchmarkMeasure(b *testing.B) {
	p := recordedPlan(b, "churn-gbm", 1)
	for _, rows := range []int{16, 100_000} {
		body := []byte(splitRows(rows))
		b.Run("measure/rows="+strconv.Itoa(rows), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := p.Measure(FormatJSON, body, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode/rows="+strconv.Itoa(rows), func(b *testing.B) {
			batch := p.GetBatch()
			defer p.PutBatch(batch)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := p.Decode(FormatJSON, body, batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
