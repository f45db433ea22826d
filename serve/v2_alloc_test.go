package serve

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/mlgate/mlgate/internal/testutil"
)

// v2Columns is an inference request for churn-gbm v1's four columns, n
// rows each.
func v2Columns(n int) string {
	col := func(name, dt, v string) string {
		return `{"name":"` + name + `","shape":[` + strconv.Itoa(n) + `],"datatype":"` + dt + `","data":[` + rowsOf(n, v) + `]}`
	}
	return `{"id":"a1","inputs":[` + col("tenure", "INT64", "37") + `,` + col("monthly_charges", "FP64", "36.0") + `,` +
		col("total_charges", "FP64", "1306.52") + `,` + col("contract_months", "INT64", "1") + `]}`
}

// v2Tensor is an inference request for churn-gbm v2's unnamed (-1, 4)
// tensor, n rows, as JSON.
func v2Tensor(n int) string {
	return `{"inputs":[{"name":"input","shape":[` + strconv.Itoa(n) + `,4],"datatype":"FP32","data":[` +
		rowsOf(n, "37.0, 36.0, 1306.52, 1.0") + `]}]}`
}

// v2TensorBinary is the same request with the tensor as binary data, and
// the output asked for as binary data; it returns the body and the length
// of its JSON part.
func v2TensorBinary(n int) ([]byte, int) {
	header := `{"inputs":[{"name":"input","shape":[` + strconv.Itoa(n) + `,4],"datatype":"FP32","parameters":{"binary_data_size":` +
		strconv.Itoa(16*n) + `}}],"parameters":{"binary_data_output":true}}`
	body := []byte(header)
	for range n {
		for _, x := range []float32{37, 36, 1306.52, 1} {
			body = binary.LittleEndian.AppendUint32(body, math.Float32bits(x))
		}
	}
	return body, len(header)
}

// v2NamedTensors is an inference request for churn-gbm v3's four named
// float32 tensors of shape [N].
func v2NamedTensors(n int) string {
	t := func(name, v string) string {
		return `{"name":"` + name + `","shape":[` + strconv.Itoa(n) + `],"datatype":"FP32","data":[` + rowsOf(n, v) + `]}`
	}
	return `{"inputs":[` + t("tenure", "37") + `,` + t("monthly_charges", "36.0") + `,` + t("total_charges", "1306.52") + `,` + t("contract_months", "1") + `]}`
}

// TestInferAllocations holds Open Inference Protocol requests through the
// handler (routing, provenance, decode, run, encode) to zero allocations,
// JSON and binary, one and 64 rows.
func TestInferAllocations(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under -race; make test runs this test again without it")
	}
	tests := []struct {
		version int
		name    string
		body    func(rows int) ([]byte, int)
	}{
		{1, "columns JSON", func(n int) ([]byte, int) { return []byte(v2Columns(n)), -1 }},
		{2, "tensor JSON", func(n int) ([]byte, int) { return []byte(v2Tensor(n)), -1 }},
		{2, "tensor binary", v2TensorBinary},
		{3, "named tensors JSON", func(n int) ([]byte, int) { return []byte(v2NamedTensors(n)), -1 }},
	}
	for _, tt := range tests {
		for _, rows := range []int{1, 64} {
			s, ctx := inMemory(t, tt.version, champion)
			body, header := tt.body(rows)
			hl := strconv.Itoa(header)
			step := func() {
				ctx.Request.Reset()
				ctx.Request.Header.SetMethod("POST")
				ctx.Request.SetRequestURI("/v2/models/churn/infer")
				ctx.Request.Header.SetContentType("application/octet-stream")
				if header >= 0 {
					ctx.Request.Header.Set(HeaderInferHeaderLength, hl)
				}
				ctx.Request.SetBody(body)
				ctx.Response.Reset()
				s.Handler(ctx)
				if ctx.Response.StatusCode() != 200 {
					t.Fatalf("v%d %s: status %d %s", tt.version, tt.name, ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
			step()
			if header >= 0 && !strings.Contains(string(ctx.Response.Header.Peek(HeaderInferHeaderLength)), "") {
				t.Fatal("no binary response")
			}
			if n := testing.AllocsPerRun(100, step); n != 0 {
				t.Errorf("v%d %s, %d rows: %v allocations per request; want 0", tt.version, tt.name, rows, n)
			}
		}
	}
}
