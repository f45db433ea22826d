package serve

import (
	"context"
	"encoding/binary"
	"math"
	"net"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mlgate/mlgate/serve/oip"
)

// v1GRPC is churn-gbm v1's request of n rows as gRPC raw contents.
func v1GRPC(n int) *oip.ModelInferRequest {
	req := &oip.ModelInferRequest{ModelName: "churn"}
	for _, col := range []struct {
		name, dt string
		v        float64
	}{{"tenure", "INT64", 37}, {"monthly_charges", "FP64", 36}, {"total_charges", "FP64", 1306.52}, {"contract_months", "INT64", 1}} {
		var raw []byte
		for range n {
			if col.dt == "INT64" {
				raw = binary.LittleEndian.AppendUint64(raw, uint64(int64(col.v)))
			} else {
				raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(col.v))
			}
		}
		req.Inputs = append(req.Inputs, &oip.ModelInferRequest_InferInputTensor{Name: col.name, Datatype: col.dt, Shape: []int64{int64(n)}})
		req.RawInputContents = append(req.RawInputContents, raw)
	}
	return req
}

// BenchmarkProtocols is one churn-gbm v1 request of 1 and 64 rows through
// each protocol's server side in memory: MLflow's /invocations, the Open
// Inference Protocol's REST handler (JSON and binary data), and its gRPC
// ModelInfer method without a transport.
func BenchmarkProtocols(b *testing.B) {
	for _, rows := range []int{1, 64} {
		r := "/rows=" + strconv.Itoa(rows)
		mlflow := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [` + rowsOf(rows, `[37, 36.0, 1306.52, 1]`) + `]}}`
		binBody, hl := v2ColumnsBinary(rows)
		for _, tc := range []struct {
			name, path string
			body       []byte
			header     int
		}{
			{"invocations", "/invocations", []byte(mlflow), -1},
			{"v2-json", "/v2/models/churn/infer", []byte(v2Columns(rows)), -1},
			{"v2-binary", "/v2/models/churn/infer", binBody, hl},
		} {
			b.Run(tc.name+r, func(b *testing.B) {
				s, ctx := inMemory(b, 1, champion)
				hlText := strconv.Itoa(tc.header)
				b.ReportAllocs()
				b.SetBytes(int64(len(tc.body)))
				for b.Loop() {
					ctx.Request.Reset()
					ctx.Request.Header.SetMethod("POST")
					ctx.Request.SetRequestURI(tc.path)
					ctx.Request.Header.SetContentType("application/json")
					if tc.header >= 0 {
						ctx.Request.Header.Set(HeaderInferHeaderLength, hlText)
					}
					ctx.Request.SetBody(tc.body)
					ctx.Response.Reset()
					s.Handler(ctx)
				}
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
			})
		}
		b.Run("v2-grpc"+r, func(b *testing.B) {
			s, _ := inMemory(b, 1, champion)
			g := &grpcService{s: s}
			req := v1GRPC(rows)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.ModelInfer(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// v2ColumnsBinary is v2Columns with the data as binary tensor data.
func v2ColumnsBinary(n int) ([]byte, int) {
	col := func(name, dt string, size int) string {
		return `{"name":"` + name + `","shape":[` + strconv.Itoa(n) + `],"datatype":"` + dt + `","parameters":{"binary_data_size":` + strconv.Itoa(size) + `}}`
	}
	header := `{"inputs":[` + col("tenure", "INT64", 8*n) + `,` + col("monthly_charges", "FP64", 8*n) + `,` +
		col("total_charges", "FP64", 8*n) + `,` + col("contract_months", "INT64", 8*n) + `],"parameters":{"binary_data_output":true}}`
	body := []byte(header)
	req := v1GRPC(n)
	for _, raw := range req.RawInputContents {
		body = append(body, raw...)
	}
	return body, len(header)
}

// BenchmarkGRPCLoopback is ModelInfer over a loopback gRPC connection, 32
// calls at a time from one client connection, churn-gbm v1, 64 rows as raw
// contents: the transport's cost with the service's, client included.
func BenchmarkGRPCLoopback(b *testing.B) {
	s, _ := inMemory(b, 1, champion)
	addr := serveGRPCBench(b, s)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := oip.NewGRPCInferenceServiceClient(conn)
	req := v1GRPC(64)
	b.ReportAllocs()
	b.SetParallelism(16)
	cpu := startCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.ModelInfer(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	cpu.report(b)
}

func serveGRPCBench(b *testing.B, s *Server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.ServeGRPC(ln) }()
	b.Cleanup(func() {
		s.grpc.Stop()
		<-done
	})
	return ln.Addr().String()
}
