package serve

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/serve/oip"
)

// serveGRPC serves s's gRPC service on a loopback port until the test
// ends and returns its address.
func serveGRPC(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.ServeGRPC(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.stopGRPC(ctx); err != nil {
			t.Errorf("stop gRPC: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("ServeGRPC: %v", err)
		}
	})
	return ln.Addr().String()
}

// dialGRPC connects to addr with creds (nil: plain).
func dialGRPC(t *testing.T, addr string, creds credentials.TransportCredentials) (oip.GRPCInferenceServiceClient, healthpb.HealthClient) {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return oip.NewGRPCInferenceServiceClient(conn), healthpb.NewHealthClient(conn)
}

// specRequest is the protocol's example request, with three values for
// input1, as typed contents.
func specRequest() *oip.ModelInferRequest {
	return &oip.ModelInferRequest{ModelName: "mymodel", Id: "42",
		Inputs: []*oip.ModelInferRequest_InferInputTensor{
			{Name: "input0", Datatype: "UINT32", Shape: []int64{2, 2}, Contents: &oip.InferTensorContents{UintContents: []uint32{1, 2, 3, 4}}},
			{Name: "input1", Datatype: "BOOL", Shape: []int64{3}, Contents: &oip.InferTensorContents{BoolContents: []bool{true, false, true}}},
		},
		Outputs: []*oip.ModelInferRequest_InferRequestedOutputTensor{{Name: "output0"}}}
}

// TestGRPCSpecExample sends the protocol's example to "mymodel" over gRPC,
// as typed contents and as raw_input_contents, and checks the answer, its
// provenance metadata and the other methods.
func TestGRPCSpecExample(t *testing.T) {
	ts, m := specServer(t)
	client, health := dialGRPC(t, serveGRPC(t, ts.Server), nil)
	ctx := context.Background()

	var header metadata.MD
	resp, err := client.ModelInfer(ctx, specRequest(), grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ModelName != "mymodel" || resp.ModelVersion != "10" || resp.Id != "42" || len(resp.Outputs) != 1 {
		t.Fatalf("response %v", resp)
	}
	o := resp.Outputs[0]
	if o.Name != "output0" || o.Datatype != "FP32" || !reflect.DeepEqual(o.Shape, []int64{3, 2}) ||
		!reflect.DeepEqual(o.Contents.GetFp32Contents(), []float32{1.0, 1.1, 2.0, 2.1, 3.0, 3.1}) || len(resp.RawOutputContents) != 0 {
		t.Errorf("output %v; want the example's output0 as fp32_contents", o)
	}
	for k, v := range map[string]string{"x-model-name": "mymodel", "x-model-version": "10", "x-model-alias": "champion",
		"x-mlflow-run-id": specProvenance.RunID, "x-route": "mymodel"} {
		if got := header.Get(k); len(got) != 1 || got[0] != v {
			t.Errorf("response metadata %s = %v; want %q", k, got, v)
		}
	}
	if in := m.inputs(); !reflect.DeepEqual(in[0].I64, []int64{1, 2, 3, 4}) || !reflect.DeepEqual(in[1].B, []bool{true, false, true}) {
		t.Errorf("the model got %v and %v", in[0].I64, in[1].B)
	}

	raw := specRequest()
	var in0 []byte
	for _, v := range []uint32{4, 3, 2, 1} {
		in0 = binary.LittleEndian.AppendUint32(in0, v)
	}
	raw.RawInputContents = [][]byte{in0, {0, 1, 1}}
	raw.Inputs[0].Contents, raw.Inputs[1].Contents = nil, nil
	resp, err = client.ModelInfer(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.RawOutputContents) != 1 || len(resp.RawOutputContents[0]) != 24 || resp.Outputs[0].Contents != nil {
		t.Fatalf("raw request: response %v; want raw_output_contents", resp)
	}
	if x := math.Float32frombits(binary.LittleEndian.Uint32(resp.RawOutputContents[0][4:])); x != 1.1 {
		t.Errorf("raw output[1] = %v; want 1.1", x)
	}
	if in := m.inputs(); !reflect.DeepEqual(in[0].I64, []int64{4, 3, 2, 1}) || !reflect.DeepEqual(in[1].B, []bool{false, true, true}) {
		t.Errorf("the model got %v and %v from raw contents", in[0].I64, in[1].B)
	}

	if r, err := client.ServerLive(ctx, &oip.ServerLiveRequest{}); err != nil || !r.Live {
		t.Errorf("ServerLive: %v %v", r, err)
	}
	if r, err := client.ServerReady(ctx, &oip.ServerReadyRequest{}); err != nil || !r.Ready {
		t.Errorf("ServerReady: %v %v", r, err)
	}
	if r, err := client.ServerMetadata(ctx, &oip.ServerMetadataRequest{}); err != nil || r.Name != "mlgate" || r.Version != "dev" ||
		!reflect.DeepEqual(r.Extensions, []string{"binary_tensor_data"}) {
		t.Errorf("ServerMetadata: %v %v", r, err)
	}
	for _, v := range []string{"", "10", "champion"} {
		if r, err := client.ModelReady(ctx, &oip.ModelReadyRequest{Name: "mymodel", Version: v}); err != nil || !r.Ready {
			t.Errorf("ModelReady(mymodel, %q): %v %v", v, r, err)
		}
	}
	md, err := client.ModelMetadata(ctx, &oip.ModelMetadataRequest{Name: "mymodel"})
	if err != nil {
		t.Fatal(err)
	}
	mdJSON, _ := json.Marshal(map[string]any{"name": md.Name, "versions": md.Versions, "platform": md.Platform,
		"inputs": tensorMeta(md.Inputs), "outputs": tensorMeta(md.Outputs)})
	rest := doRequest(t, "GET", ts.url+"/v2/models/mymodel", nil, nil)
	if !jsonEqual(t, mdJSON, rest.body) {
		t.Errorf("ModelMetadata %s; REST answers %s", mdJSON, rest.body)
	}
	for _, svc := range []string{"", "inference.GRPCInferenceService"} {
		if r, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: svc}); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v %v; want SERVING", svc, r, err)
		}
	}
	ts.SetDraining()
	if r, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || r.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("draining: health %v %v; want NOT_SERVING", r, err)
	}
	if r, err := client.ServerReady(ctx, &oip.ServerReadyRequest{}); err != nil || r.Ready {
		t.Errorf("draining: ServerReady %v %v; want false", r, err)
	}
}

func tensorMeta(ts []*oip.ModelMetadataResponse_TensorMetadata) []map[string]any {
	out := []map[string]any{}
	for _, t := range ts {
		out = append(out, map[string]any{"name": t.Name, "datatype": t.Datatype, "shape": t.Shape})
	}
	return out
}

// TestGRPCErrors checks that mistakes get the gRPC code standing for the
// HTTP status REST answers, with the same message.
func TestGRPCErrors(t *testing.T) {
	ts, _ := specServer(t)
	client, _ := dialGRPC(t, serveGRPC(t, ts.Server), nil)
	ctx := context.Background()
	mod := func(f func(*oip.ModelInferRequest)) *oip.ModelInferRequest {
		r := specRequest()
		f(r)
		return r
	}
	for _, tc := range []struct {
		name string
		req  *oip.ModelInferRequest
		code codes.Code
		msg  string
	}{
		{"unknown model", mod(func(r *oip.ModelInferRequest) { r.ModelName = "yourmodel" }), codes.NotFound, `model "yourmodel" does not exist`},
		{"unknown version", mod(func(r *oip.ModelInferRequest) { r.ModelVersion = "9" }), codes.NotFound, `no version "9" loaded; it serves 10 (champion)`},
		{"unknown output", mod(func(r *oip.ModelInferRequest) { r.Outputs[0].Name = "output1" }), codes.InvalidArgument, `output "output1" is not an output`},
		{"unknown input", mod(func(r *oip.ModelInferRequest) { r.Inputs[1].Name = "input2" }), codes.InvalidArgument, `input "input2" is not an input of the model`},
		{"missing input", mod(func(r *oip.ModelInferRequest) { r.Inputs = r.Inputs[:1] }), codes.InvalidArgument, `missing required input "input1"`},
		{"wrong datatype", mod(func(r *oip.ModelInferRequest) { r.Inputs[0].Datatype = "FP32" }), codes.InvalidArgument, `input "input0" has datatype FP32, but the model takes int64`},
		{"contents of another type", mod(func(r *oip.ModelInferRequest) { r.Inputs[0].Datatype = "INT64" }), codes.InvalidArgument, `INT64 data must be in int64_contents`},
		{"bad shape", mod(func(r *oip.ModelInferRequest) { r.Inputs[0].Shape = []int64{4} }), codes.InvalidArgument, `input "input0" has shape (4,), but the model expects (2, 2)`},
		{"short data", mod(func(r *oip.ModelInferRequest) { r.Inputs[1].Contents.BoolContents = []bool{true} }), codes.InvalidArgument, `input "input1" has shape (3,), 3 values, but its data holds 1`},
		{"raw and contents", mod(func(r *oip.ModelInferRequest) { r.RawInputContents = [][]byte{{1}, {1}} }), codes.InvalidArgument, `send every input one way`},
		{"raw count", mod(func(r *oip.ModelInferRequest) {
			r.RawInputContents = [][]byte{{1}}
			r.Inputs[0].Contents, r.Inputs[1].Contents = nil, nil
		}), codes.InvalidArgument, `raw_input_contents has 1 entries, but the request has 2 inputs`},
		{"unknown datatype", mod(func(r *oip.ModelInferRequest) { r.Inputs[0].Datatype = "UINT128" }), codes.InvalidArgument, `datatype "UINT128" is not one of`},
	} {
		_, err := client.ModelInfer(ctx, tc.req)
		st, _ := status.FromError(err)
		if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
			t.Errorf("%s: %v %q; want %v with %q", tc.name, st.Code(), st.Message(), tc.code, tc.msg)
		}
	}
	if _, err := client.ModelMetadata(ctx, &oip.ModelMetadataRequest{Name: "yourmodel"}); status.Code(err) != codes.NotFound {
		t.Errorf("ModelMetadata of an unknown model: %v; want NotFound", err)
	}
	if _, err := client.ModelReady(ctx, &oip.ModelReadyRequest{Name: "mymodel", Version: "2"}); status.Code(err) != codes.NotFound {
		t.Errorf("ModelReady of an unknown version: %v; want NotFound", err)
	}
	for http, code := range map[int]codes.Code{400: codes.InvalidArgument, 401: codes.Unauthenticated, 404: codes.NotFound,
		413: codes.ResourceExhausted, 429: codes.ResourceExhausted, 503: codes.Unavailable, 504: codes.DeadlineExceeded, 500: codes.Internal} {
		if got := grpcCode(http); got != code {
			t.Errorf("grpcCode(%d) = %v; want %v", http, got, code)
		}
	}
}

// TestGRPCMatchesREST sends each model in testdata its serving example as
// raw_input_contents over gRPC and as JSON over REST, and requires the
// same answers.
func TestGRPCMatchesREST(t *testing.T) {
	for name, dir := range testdataModels(t) {
		t.Run(name, func(t *testing.T) {
			m := loadModel(t, dir)
			s, err := New(Config{})
			if err != nil {
				t.Fatal(err)
			}
			uri := "models:/" + name + "/1"
			publish(t, s, []RouteSpec{{Name: "m", Targets: []TargetSpec{{URI: uri}}}},
				map[string]Deployment{uri: {Model: m, Provenance: Provenance{Name: name, Version: "1"}}})
			ts := serveOnLoopback(t, s)
			client, _ := dialGRPC(t, serveGRPC(t, s), nil)
			example, err := os.ReadFile(filepath.Join(dir, "serving_input_example.json"))
			if err != nil {
				t.Fatal(err)
			}
			ins := v2FromExample(t, example, m.Plan().InferInputs())
			body, _ := json.Marshal(map[string]any{"inputs": ins})
			rest := doRequest(t, "POST", ts.url+"/v2/models/m/infer", nil, body)
			if rest.status != 200 {
				t.Fatalf("REST: %d %s", rest.status, rest.body)
			}
			want := inferOutputs(t, rest.body, -1)

			req := &oip.ModelInferRequest{ModelName: "m"}
			for _, in := range ins {
				req.Inputs = append(req.Inputs, &oip.ModelInferRequest_InferInputTensor{Name: in.Name, Datatype: in.Datatype, Shape: in.Shape})
				var raw []byte
				for _, v := range flattenAny(in.Data) {
					raw = appendBinaryValue(t, raw, in.Datatype, v)
				}
				req.RawInputContents = append(req.RawInputContents, raw)
			}
			resp, err := client.ModelInfer(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]any{}
			for i, o := range resp.Outputs {
				vals := decodeBinary(t, o.Datatype, resp.RawOutputContents[i])
				for _, v := range vals {
					if s, ok := v.(string); ok && strings.HasPrefix(s, "{") {
						got[o.Name] = append(got[o.Name], inferOutputs(t, []byte(`{"outputs":[{"name":"x","data":[`+quoteJSON(s)+`]}]}`), -1)["x"]...)
						continue
					}
					got[o.Name] = append(got[o.Name], v)
				}
			}
			for out, w := range want {
				if !sameValues(got[out], w) {
					t.Errorf("output %q over gRPC = %v; REST answered %v", out, got[out], w)
				}
			}
		})
	}
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestGRPCAccess: the main listener's TLS certificate and client CA apply
// to gRPC, and scoring tokens as authorization metadata on ModelInfer and
// ModelMetadata (not on health and readiness).
func TestGRPCAccess(t *testing.T) {
	f := newTLSFixture(t)
	clients := testutil.NewCA(t, "client CA")
	writeFile(t, f.cas, string(clients.PEM))
	const token = "grpc-client-0123456789abcdef"
	tokens := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, tokens, token+"\n")
	m := newSpecModel(t)
	s, err := New(Config{TLSCertFile: f.certFile, TLSKeyFile: f.keyFile, TLSClientCAFile: f.cas, AuthTokensFile: tokens, FileCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	uri := "models:/mymodel@champion"
	publish(t, s, []RouteSpec{{Name: "mymodel", Targets: []TargetSpec{{URI: uri, Alias: "champion"}}}},
		map[string]Deployment{uri: {Model: m, Provenance: specProvenance}})
	t.Cleanup(s.Close)
	addr := serveGRPC(t, s)

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(f.ca.PEM)
	certPEM, keyPEM := clients.Issue(t, 7, true)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Without a client certificate the handshake fails.
	noCert, _ := dialGRPC(t, addr, credentials.NewTLS(&tls.Config{RootCAs: roots}))
	if _, err := noCert.ServerLive(ctx, &oip.ServerLiveRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("without a client certificate: %v; want the connection refused", err)
	}
	// Plain text to the TLS listener fails.
	plain, _ := dialGRPC(t, addr, nil)
	if _, err := plain.ServerLive(ctx, &oip.ServerLiveRequest{}); err == nil {
		t.Errorf("plain text to the TLS listener: served")
	}

	client, health := dialGRPC(t, addr, credentials.NewTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}))
	if r, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without a token: %v %v; want SERVING", r, err)
	}
	if r, err := client.ModelReady(ctx, &oip.ModelReadyRequest{Name: "mymodel"}); err != nil || !r.Ready {
		t.Errorf("ModelReady without a token: %v %v", r, err)
	}
	if _, err := client.ModelInfer(ctx, specRequest()); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ModelInfer without a token: %v; want Unauthenticated", err)
	}
	if _, err := client.ModelMetadata(ctx, &oip.ModelMetadataRequest{Name: "mymodel"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ModelMetadata without a token: %v; want Unauthenticated", err)
	}
	bad := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer wrong-0123456789abcdef")
	if _, err := client.ModelInfer(bad, specRequest()); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ModelInfer with a wrong token: %v; want Unauthenticated", err)
	}
	good := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	resp, err := client.ModelInfer(good, specRequest())
	if err != nil || len(resp.Outputs) != 1 {
		t.Errorf("ModelInfer with the token: %v %v", resp, err)
	}
	if !bytes.Equal([]byte(resp.GetModelVersion()), []byte("10")) {
		t.Errorf("model_version %q; want 10", resp.GetModelVersion())
	}
}
