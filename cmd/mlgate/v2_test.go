package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/serve/oip"
)

// churn-gbm v3 and v4 take the same four named float32 tensors, so one
// inference request fits both; v1 (columns) and v2 (one unnamed tensor)
// do not share a request shape.
const (
	inferRow = `{"inputs": [{"name": "tenure", "shape": [1], "datatype": "FP32", "data": [37]},
		{"name": "monthly_charges", "shape": [1], "datatype": "FP32", "data": [36.0]},
		{"name": "total_charges", "shape": [1], "datatype": "FP32", "data": [1306.52]},
		{"name": "contract_months", "shape": [1], "datatype": "FP32", "data": [1]}]}`
	namedRow = `{"inputs": {"tenure": [37.0], "monthly_charges": [36.0], "total_charges": [1306.52], "contract_months": [1.0]}}`
)

// grpcRow is inferRow for ModelInfer.
func grpcRow(model string) *oip.ModelInferRequest {
	in := func(name string, v float32) *oip.ModelInferRequest_InferInputTensor {
		return &oip.ModelInferRequest_InferInputTensor{Name: name, Datatype: "FP32", Shape: []int64{1},
			Contents: &oip.InferTensorContents{Fp32Contents: []float32{v}}}
	}
	return &oip.ModelInferRequest{ModelName: model, Inputs: []*oip.ModelInferRequest_InferInputTensor{
		in("tenure", 37), in("monthly_charges", 36), in("total_charges", 1306.52), in("contract_months", 1)}}
}

func grpcClient(t *testing.T, addr string) oip.GRPCInferenceServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return oip.NewGRPCInferenceServiceClient(conn)
}

// inferAnswer is one answer: the version its provenance names, and the
// first value of its output "probability".
type inferAnswer struct {
	version string
	value   float64
}

// restInfer sends body to url and returns the answer, or why it failed.
func restInfer(client *http.Client, url, body string, header map[string]string) (inferAnswer, error) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return inferAnswer{}, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return inferAnswer{}, fmt.Errorf("status %d: %s", resp.StatusCode, data)
	}
	var r struct {
		ModelVersion string `json:"model_version"`
		Outputs      []struct {
			Name string
			Data []float64
		}
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return inferAnswer{}, fmt.Errorf("body %s: %v", data, err)
	}
	v := resp.Header.Get("X-Model-Version")
	if r.ModelVersion != v {
		return inferAnswer{}, fmt.Errorf("X-Model-Version %s but model_version %s", v, r.ModelVersion)
	}
	for _, o := range r.Outputs {
		if o.Name == "probability" && len(o.Data) > 0 {
			return inferAnswer{v, o.Data[0]}, nil
		}
	}
	return inferAnswer{}, fmt.Errorf("body %s has no probability", data)
}

// grpcInfer sends req and returns the answer, or why it failed.
func grpcInfer(ctx context.Context, client oip.GRPCInferenceServiceClient, req *oip.ModelInferRequest) (inferAnswer, error) {
	var header metadata.MD
	resp, err := client.ModelInfer(ctx, req, grpc.Header(&header))
	if err != nil {
		return inferAnswer{}, err
	}
	v := header.Get("x-model-version")
	if len(v) != 1 || v[0] != resp.ModelVersion {
		return inferAnswer{}, fmt.Errorf("x-model-version %v but model_version %s", v, resp.ModelVersion)
	}
	for _, o := range resp.Outputs {
		if p := o.Contents.GetFp32Contents(); o.Name == "probability" && len(p) > 0 {
			return inferAnswer{v[0], float64(p[0])}, nil
		}
	}
	return inferAnswer{}, fmt.Errorf("response %v has no probability", resp)
}

// TestInferAliasFlipsUnderLoad moves champion between v3 and v4 ten times
// while 8 clients call /v2/models/churn/infer and 8 call ModelInfer over
// gRPC: no request may fail, and every answer's numbers must be those of
// the version its X-Model-Version header (x-model-version metadata) names.
func TestInferAliasFlipsUnderLoad(t *testing.T) {
	fake := fakemlflow.New(t)
	fake.SetAlias("churn-gbm", "champion", "3")
	cfg := testConfig(t, fake.URL(), championRoute)
	cfg.GRPCListen = "127.0.0.1:0"
	mg := startApp(t, cfg)
	restURL := mg.url + "/v2/models/churn/infer"
	gc := grpcClient(t, mg.grpcAddr)
	ctx := context.Background()

	want := map[string]float64{}
	served := func() inferAnswer {
		a, err := restInfer(http.DefaultClient, restURL, inferRow, nil)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := served()
	want[a.version] = a.value
	fake.SetAlias("churn-gbm", "champion", "4")
	waitFor(t, "champion to serve version 4", func() bool { return served().version == "4" })
	want["4"] = served().value
	if len(want) != 2 || want["3"] == want["4"] {
		t.Fatalf("answers per version %v; want v3 and v4 to differ", want)
	}

	var (
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		total    atomic.Int64
		mu       sync.Mutex
		failures []string
		counts   = map[string]int{}
	)
	record := func(proto string, a inferAnswer, err error) {
		total.Add(1)
		mu.Lock()
		defer mu.Unlock()
		switch w, ok := want[a.version]; {
		case err != nil:
			failures = append(failures, proto+": "+err.Error())
		case !ok || math.Abs(a.value-w) > 1e-6:
			failures = append(failures, fmt.Sprintf("%s: version %s answered %v; that version answers %v", proto, a.version, a.value, w))
		default:
			counts[proto+" v"+a.version]++
		}
	}
	client := loadClient(8)
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				a, err := restInfer(client, restURL, inferRow, nil)
				record("REST", a, err)
			}
		})
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				a, err := grpcInfer(ctx, gc, grpcRow("churn"))
				record("gRPC", a, err)
			}
		})
	}
	versions := []string{"3", "4"}
	for i := range 10 {
		v := versions[i%2]
		fake.SetAlias("churn-gbm", "champion", v)
		waitFor(t, "champion to serve version "+v, func() bool { return served().version == v })
		// Let both protocols answer a few requests on this version.
		seen := total.Load()
		waitFor(t, "requests on version "+v, func() bool { return total.Load() > seen+50 })
	}
	close(stop)
	wg.Wait()
	client.CloseIdleConnections()
	t.Logf("%d requests over 10 alias flips: %v", total.Load(), counts)
	if len(failures) > 0 {
		if len(failures) > 20 {
			failures = failures[:20]
		}
		t.Errorf("failed requests:\n%s", strings.Join(failures, "\n"))
	}
	for _, k := range []string{"REST v3", "REST v4", "gRPC v3", "gRPC v4"} {
		if counts[k] == 0 {
			t.Errorf("no %s answers in %v", k, counts)
		}
	}
}

// TestInferSplitLikeInvocations splits churn 70/30 between champion (v3)
// and challenger (v4) with a sticky header: each of 500 users lands on
// the same version over /invocations, /v2 REST and gRPC, the override
// header picks the challenger on all three, and the weighted split of
// users without a key holds on /v2 as on /invocations.
func TestInferSplitLikeInvocations(t *testing.T) {
	fake := fakemlflow.New(t)
	fake.SetAlias("churn-gbm", "champion", "3")
	fake.SetAlias("churn-gbm", "challenger", "4")
	cfg := testConfig(t, fake.URL(), canaryRoute(70, 30, &StickyConfig{Header: "X-User-Id"}))
	cfg.GRPCListen = "127.0.0.1:0"
	mg := startApp(t, cfg)
	gc := grpcClient(t, mg.grpcAddr)
	ctx := context.Background()
	client := loadClient(1)
	defer client.CloseIdleConnections()

	versionOf := func(proto, user string, header map[string]string) string {
		t.Helper()
		var a inferAnswer
		var err error
		switch proto {
		case "invocations":
			req, _ := http.NewRequest(http.MethodPost, mg.url+"/invocations", strings.NewReader(namedRow))
			req.Header.Set("Content-Type", "application/json")
			for k, v := range header {
				req.Header.Set(k, v)
			}
			resp, e := client.Do(req)
			if e != nil {
				t.Fatal(e)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("/invocations: %d", resp.StatusCode)
			}
			return resp.Header.Get("X-Model-Version")
		case "REST":
			a, err = restInfer(client, mg.url+"/v2/models/churn/infer", inferRow, header)
		case "gRPC":
			c := ctx
			for k, v := range header {
				c = metadata.AppendToOutgoingContext(c, strings.ToLower(k), v)
			}
			a, err = grpcInfer(c, gc, grpcRow("churn"))
		}
		if err != nil {
			t.Fatalf("%s for user %s: %v", proto, user, err)
		}
		return a.version
	}
	perVersion := map[string]int{}
	for i := range 500 {
		user := "user-" + strconv.Itoa(i)
		h := map[string]string{"X-User-Id": user}
		v := versionOf("invocations", user, h)
		perVersion[v]++
		for _, proto := range []string{"REST", "gRPC"} {
			if got := versionOf(proto, user, h); got != v {
				t.Errorf("user %s: /invocations serves version %s, %s version %s", user, v, proto, got)
			}
		}
	}
	t.Logf("users per version: %v", perVersion)
	for _, proto := range []string{"invocations", "REST", "gRPC"} {
		if v := versionOf(proto, "override", map[string]string{"X-Model-Alias": "challenger"}); v != "4" {
			t.Errorf("%s with X-Model-Alias: challenger served version %s; want 4", proto, v)
		}
	}
	// Without a key: the weighted draw, within a six-sigma binomial interval.
	const n = 2000
	challenger := 0
	for range n {
		if versionOf("REST", "", nil) == "4" {
			challenger++
		}
	}
	p := 0.3
	sd := math.Sqrt(n * p * (1 - p))
	if lo, hi := n*p-zSplit*sd, n*p+zSplit*sd; float64(challenger) < lo || float64(challenger) > hi {
		t.Errorf("/v2 without a key: challenger served %d of %d; want within %.0f..%.0f", challenger, n, lo, hi)
	}
}

// grpcurl runs grpcurl, a client mlgate did not write, with the
// protocol's .proto against addr (args end with the method), and returns
// its output.
func grpcurl(t *testing.T, addr string, args ...string) (string, error) {
	t.Helper()
	proto := testutil.Path(t, "serve", "oip")
	return runGrpcurl(t, append([]string{"-import-path", proto, "-proto", "grpc_predict_v2.proto"}, args...), addr)
}

// runGrpcurl runs grpcurl in plain text with args, addr before the last
// one (the method).
func runGrpcurl(t *testing.T, args []string, addr string) (string, error) {
	t.Helper()
	bin := os.Getenv("MLGATE_GRPCURL_BIN")
	if bin == "" {
		t.Fatal("MLGATE_GRPCURL_BIN is not set; make test installs grpcurl and sets it")
	}
	method := args[len(args)-1]
	argv := append(append([]string{"-plaintext"}, args[:len(args)-1]...), addr, method)
	out, err := exec.Command(bin, argv...).CombinedOutput()
	return string(out), err
}

// TestGRPCurlAgainstProcess drives the real mlgate process's gRPC port
// with grpcurl and its REST port with raw HTTP/1.1, then stops it with
// SIGTERM: gRPC health and ServerReady report the drain while calls are
// still answered.
func TestGRPCurlAgainstProcess(t *testing.T) {
	fake := fakemlflow.New(t)
	p := startProcess(t, fake.URL(), "--grpc-listen", "127.0.0.1:0", "--drain-delay", "30s")
	waitFor(t, "mlgate to be ready", func() bool {
		resp, err := http.Get(p.url + "/v2/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	for _, tc := range []struct {
		method, data string
		want         []string
	}{
		{"inference.GRPCInferenceService/ServerLive", "", []string{`"live": true`}},
		{"inference.GRPCInferenceService/ServerReady", "", []string{`"ready": true`}},
		{"inference.GRPCInferenceService/ServerMetadata", "", []string{`"name": "mlgate"`, `"binary_tensor_data"`}},
		{"inference.GRPCInferenceService/ModelReady", `{"name": "churn"}`, []string{`"ready": true`}},
		{"inference.GRPCInferenceService/ModelMetadata", `{"name": "churn"}`, []string{`"platform": "onnxruntime_onnx"`, `"name": "tenure"`, `"datatype": "INT64"`, `"name": "probability"`}},
		{"inference.GRPCInferenceService/ModelInfer", `{"model_name": "churn", "id": "g1", "inputs": [
			{"name": "tenure", "datatype": "INT64", "shape": [1], "contents": {"int64_contents": [37]}},
			{"name": "monthly_charges", "datatype": "FP64", "shape": [1], "contents": {"fp64_contents": [36.0]}},
			{"name": "total_charges", "datatype": "FP64", "shape": [1], "contents": {"fp64_contents": [1306.52]}},
			{"name": "contract_months", "datatype": "INT64", "shape": [1], "contents": {"int64_contents": [1]}}]}`,
			[]string{"x-model-version: 1", "x-model-alias: champion", "x-route: churn", "x-mlflow-run-id: ", `"modelVersion": "1"`, `"id": "g1"`, "0.23261309"}},
	} {
		args := []string{"-v"}
		if tc.data != "" {
			args = append(args, "-d", tc.data)
		}
		out, err := grpcurl(t, p.grpcAddr, append(args, tc.method)...)
		if err != nil {
			t.Errorf("grpcurl %s: %v\n%s", tc.method, err, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("grpcurl %s: output lacks %q:\n%s", tc.method, w, out)
			}
		}
	}
	out, err := grpcurl(t, p.grpcAddr, "-d", `{"model_name": "fraud"}`, "inference.GRPCInferenceService/ModelInfer")
	if err == nil || !strings.Contains(out, "Code: NotFound") || !strings.Contains(out, `model "fraud" does not exist`) {
		t.Errorf("grpcurl ModelInfer of an unknown model: %v\n%s", err, out)
	}

	// Raw HTTP/1.1 on the main listener, as curl would send it.
	body := strings.ReplaceAll(`{"id": "r1", "inputs": [{"name": "tenure", "shape": [1], "datatype": "INT64", "data": [37]},
		{"name": "monthly_charges", "shape": [1], "datatype": "FP64", "data": [36.0]},
		{"name": "total_charges", "shape": [1], "datatype": "FP64", "data": [1306.52]},
		{"name": "contract_months", "shape": [1], "datatype": "INT64", "data": [1]}]}`, "\n\t\t", " ")
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v2/models/churn/infer HTTP/1.1\r\nHost: mlgate\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	raw, _ := io.ReadAll(conn)
	conn.Close()
	for _, w := range []string{"HTTP/1.1 200 OK", "X-Model-Version: 1", "X-Route: churn",
		`{"model_name":"churn","model_version":"1","id":"r1","outputs":[{"name":"probability","datatype":"FP32","shape":[1,1],"data":[0.23261309]}]}`} {
		if !bytes.Contains(raw, []byte(w)) {
			t.Errorf("raw HTTP response lacks %q:\n%s", w, raw)
		}
	}

	// SIGTERM: the drain delay starts, readiness goes, calls still work.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// grpc.health.v1 through server reflection, as Kubernetes' gRPC probe
	// finds it without mlgate's .proto.
	waitFor(t, "gRPC health to report NOT_SERVING", func() bool {
		out, _ := runGrpcurl(t, []string{"grpc.health.v1.Health/Check"}, p.grpcAddr)
		return strings.Contains(out, "NOT_SERVING")
	})
	if out, err := grpcurl(t, p.grpcAddr, "inference.GRPCInferenceService/ServerReady"); err != nil || strings.Contains(out, `"ready": true`) {
		t.Errorf("ServerReady while draining: %v\n%s", err, out)
	}
	if out, err := grpcurl(t, p.grpcAddr, "-d", `{"name": "churn"}`, "inference.GRPCInferenceService/ModelMetadata"); err != nil || !strings.Contains(out, `"platform"`) {
		t.Errorf("ModelMetadata while draining: %v\n%s", err, out)
	}
}
