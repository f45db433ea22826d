package serve

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/signature"
)

// specModel is the protocol's example model "mymodel": inputs input0
// (UINT32 [2, 2], taken as int64) and input1 (BOOL [3]), output output0,
// the FP32 [3, 2] tensor of the example response. It keeps the inputs of
// its last request.
type specModel struct {
	plan *signature.Plan
	refs int64
	mu   sync.Mutex
	last []signature.Feed
}

func newSpecModel(t testing.TB) *specModel {
	plan, err := signature.Compile(nil, []signature.GraphTensor{
		{Name: "input0", DType: signature.Int64, Shape: []int64{2, 2}},
		{Name: "input1", DType: signature.Bool, Shape: []int64{3}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &specModel{plan: plan, refs: 1}
}

func (m *specModel) Acquire() bool         { return true }
func (m *specModel) Release()              {}
func (m *specModel) Plan() *signature.Plan { return m.plan }
func (m *specModel) GraphOutputs() []signature.GraphTensor {
	return []signature.GraphTensor{{Name: "output0", DType: signature.Float32, Shape: []int64{3, 2}}}
}

func (m *specModel) Predict(_ context.Context, b *signature.Batch) (signature.Prediction, error) {
	m.mu.Lock()
	m.last = nil
	for _, f := range b.Feeds {
		f.I64 = append([]int64(nil), f.I64...)
		f.B = append([]bool(nil), f.B...)
		m.last = append(m.last, f)
	}
	m.mu.Unlock()
	return &fakePrediction{outs: []signature.Output{{Name: "output0", DType: signature.Float32, Shape: []int64{3, 2},
		F32: []float32{1.0, 1.1, 2.0, 2.1, 3.0, 3.1}}}}, nil
}

func (m *specModel) inputs() []signature.Feed {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

var specProvenance = Provenance{Name: "mymodel", Version: "10", Alias: "champion", RunID: "0123456789abcdef0123456789abcdef"}

// specServer serves specModel as route "mymodel" on a loopback port.
func specServer(t *testing.T) (*testServer, *specModel) {
	t.Helper()
	m := newSpecModel(t)
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	uri := "models:/mymodel@champion"
	snap, err := s.Compile([]RouteSpec{{Name: "mymodel", Targets: []TargetSpec{{URI: uri, Alias: "champion"}}}}, "",
		map[string]Deployment{uri: {Model: m, Provenance: specProvenance}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(snap); err != nil {
		t.Fatal(err)
	}
	return serveOnLoopback(t, s), m
}

func specFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "oip", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonEqual compares two JSON documents as values.
func jsonEqual(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("expected document is not JSON: %v", err)
	}
	return reflect.DeepEqual(g, w)
}

func doRequest(t *testing.T, method, url string, header map[string]string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}
}

// checkProvenance checks the provenance headers of a response.
func checkProvenance(t *testing.T, h http.Header, p Provenance) {
	t.Helper()
	for k, v := range map[string]string{HeaderModelName: p.Name, HeaderModelVersion: p.Version, HeaderModelAlias: p.Alias, HeaderRunID: p.RunID} {
		if v != "" && h.Get(k) != v {
			t.Errorf("%s: %q; want %q", k, h.Get(k), v)
		}
	}
}

// TestInferSpecExamples sends the protocol's own examples to a model
// shaped like their "mymodel", over REST, as JSON and as binary data, and
// compares the answers with the examples' responses.
func TestInferSpecExamples(t *testing.T) {
	ts, m := specServer(t)
	url := ts.url + "/v2/models/mymodel/infer"

	// The example as printed: input1 has shape [3] and one value.
	r := doRequest(t, "POST", url, map[string]string{"Content-Type": "application/json"}, specFile(t, "infer-request.json"))
	if r.status != 400 || !strings.Contains(string(r.body), `input \"input1\" has shape (3,), 3 values, but its data holds 1`) {
		t.Errorf("the example as printed: %d %s; want 400 naming input1", r.status, r.body)
	}
	var body map[string]any
	if json.Unmarshal(r.body, &body) != nil || len(body) != 1 || body["error"] == nil {
		t.Errorf("error body %s; want {\"error\": ...} only", r.body)
	}

	// With three values, the example's response, with mlgate's
	// model_name and model_version besides.
	req := bytes.Replace(specFile(t, "infer-request.json"), []byte(`"data" : [ true ]`), []byte(`"data" : [ true, false, true ]`), 1)
	r = doRequest(t, "POST", url, map[string]string{"Content-Type": "application/json"}, req)
	if r.status != 200 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	var got map[string]any
	json.Unmarshal(r.body, &got)
	if got["model_name"] != "mymodel" || got["model_version"] != "10" {
		t.Errorf("model_name, model_version = %v, %v; want mymodel, 10", got["model_name"], got["model_version"])
	}
	delete(got, "model_name")
	delete(got, "model_version")
	gotJSON, _ := json.Marshal(got)
	if !jsonEqual(t, gotJSON, specFile(t, "infer-response.json")) {
		t.Errorf("response %s; want the example's %s", r.body, specFile(t, "infer-response.json"))
	}
	checkProvenance(t, r.header, specProvenance)
	if in := m.inputs(); !reflect.DeepEqual(in[0].I64, []int64{1, 2, 3, 4}) || !reflect.DeepEqual(in[1].B, []bool{true, false, true}) {
		t.Errorf("the model got %v and %v; want [1 2 3 4] and [true false true]", in[0].I64, in[1].B)
	}

	// The binary data example: 16 bytes for input0, 3 for input1; the
	// output as 24 bytes of binary data.
	header := specFile(t, "binary-request.json")
	full := append([]byte{}, header...)
	for _, v := range []uint32{1, 2, 3, 4} {
		full = binary.LittleEndian.AppendUint32(full, v)
	}
	full = append(full, 1, 0, 1)
	r = doRequest(t, "POST", url, map[string]string{"Content-Type": "application/octet-stream",
		HeaderInferHeaderLength: strconv.Itoa(len(header))}, full)
	if r.status != 200 {
		t.Fatalf("binary example: status %d %s", r.status, r.body)
	}
	hl, err := strconv.Atoi(r.header.Get(HeaderInferHeaderLength))
	if err != nil || hl+24 != len(r.body) {
		t.Fatalf("%s %q with a body of %d bytes; want the JSON's length, 24 bytes less", HeaderInferHeaderLength, r.header.Get(HeaderInferHeaderLength), len(r.body))
	}
	if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q; want application/octet-stream", ct)
	}
	got = nil
	json.Unmarshal(r.body[:hl], &got)
	delete(got, "model_name")
	delete(got, "model_version")
	gotJSON, _ = json.Marshal(got)
	if !jsonEqual(t, gotJSON, specFile(t, "binary-response.json")) {
		t.Errorf("binary response %s; want the example's %s", r.body[:hl], specFile(t, "binary-response.json"))
	}
	var vals []float32
	for i := hl; i < len(r.body); i += 4 {
		vals = append(vals, math.Float32frombits(binary.LittleEndian.Uint32(r.body[i:])))
	}
	if !reflect.DeepEqual(vals, []float32{1.0, 1.1, 2.0, 2.1, 3.0, 3.1}) {
		t.Errorf("binary output %v; want the example's", vals)
	}
	if in := m.inputs(); !reflect.DeepEqual(in[0].I64, []int64{1, 2, 3, 4}) || !reflect.DeepEqual(in[1].B, []bool{true, false, true}) {
		t.Errorf("the model got %v and %v from binary data; want [1 2 3 4] and [true false true]", in[0].I64, in[1].B)
	}
}

// TestInferEndpoints checks every other endpoint of the protocol against
// the spec's response objects, and the errors of each.
func TestInferEndpoints(t *testing.T) {
	ts, _ := specServer(t)
	get := func(path string) response { return doRequest(t, "GET", ts.url+path, nil, nil) }
	for _, tc := range []struct {
		path   string
		status int
		want   string // the whole body, as JSON
	}{
		{"/v2", 200, `{"name": "mlgate", "version": "dev", "extensions": ["binary_tensor_data"]}`},
		{"/v2/health/live", 200, `{"live": true}`},
		{"/v2/health/ready", 200, `{"ready": true}`},
		{"/v2/models/mymodel/ready", 200, `{"name": "mymodel", "ready": true}`},
		{"/v2/models/mymodel/versions/10/ready", 200, `{"name": "mymodel", "ready": true}`},
		{"/v2/models/mymodel/versions/champion/ready", 200, `{"name": "mymodel", "ready": true}`},
		{"/v2/models/mymodel", 200, `{"name": "mymodel", "versions": ["10"], "platform": "onnxruntime_onnx",
			"inputs": [{"name": "input0", "datatype": "INT64", "shape": [2, 2]}, {"name": "input1", "datatype": "BOOL", "shape": [3]}],
			"outputs": [{"name": "output0", "datatype": "FP32", "shape": [3, 2]}]}`},
		{"/v2/models/mymodel/versions/10", 200, ""},
		{"/v2/models/yourmodel", 404, `{"error": "model \"yourmodel\" does not exist; the models are the routes \"mymodel\""}`},
		{"/v2/models/mymodel/versions/9", 404, `{"error": "model mymodel has no version \"9\" loaded; it serves 10 (champion)"}`},
		{"/v2/models/mymodel/versions/9/ready", 404, ""},
		{"/v2/models/mymodel/version", 404, `{"error": "no endpoint GET /v2/models/mymodel/version"}`},
	} {
		r := get(tc.path)
		if r.status != tc.status {
			t.Errorf("GET %s: %d %s; want %d", tc.path, r.status, r.body, tc.status)
			continue
		}
		if tc.want != "" && !jsonEqual(t, r.body, []byte(tc.want)) {
			t.Errorf("GET %s: %s; want %s", tc.path, r.body, tc.want)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q", tc.path, ct)
		}
	}
	if r := get("/v2/models/mymodel/versions/10"); r.header.Get(HeaderModelVersion) != "10" {
		t.Errorf("model metadata without provenance headers: %v", r.header)
	}
	if r := doRequest(t, "POST", ts.url+"/v2/models/mymodel", nil, nil); r.status != 405 {
		t.Errorf("POST model metadata: %d; want 405", r.status)
	}
	if r := get("/v2/models/mymodel/infer"); r.status != 405 || !strings.Contains(string(r.body), "use POST") {
		t.Errorf("GET infer: %d %s; want 405", r.status, r.body)
	}
	ts.SetDraining()
	if r := get("/v2/health/ready"); r.status != 503 || !jsonEqual(t, r.body, []byte(`{"ready": false}`)) {
		t.Errorf("draining: /v2/health/ready %d %s; want 503 {\"ready\": false}", r.status, r.body)
	}
	if r := get("/v2/models/mymodel/ready"); r.status != 503 || !jsonEqual(t, r.body, []byte(`{"name": "mymodel", "ready": false}`)) {
		t.Errorf("draining: model ready %d %s; want 503", r.status, r.body)
	}
	if r := get("/v2/health/live"); r.status != 200 {
		t.Errorf("draining: live %d; want 200", r.status)
	}
}

// TestInferErrors checks that mistakes get a 4xx naming what is wrong, in
// the protocol's error body.
func TestInferErrors(t *testing.T) {
	ts, _ := specServer(t)
	url := ts.url + "/v2/models/mymodel/infer"
	good := `{"inputs": [{"name": "input0", "shape": [2, 2], "datatype": "UINT32", "data": [1, 2, 3, 4]},
		{"name": "input1", "shape": [3], "datatype": "BOOL", "data": [true, false, true]}]`
	for _, tc := range []struct {
		name   string
		header map[string]string
		body   string
		status int
		msg    string
	}{
		{"unknown output", nil, good + `, "outputs": [{"name": "output1"}]}`, 400, `output \"output1\" is not an output of the model; it has \"output0\"`},
		{"unknown input", nil, `{"inputs": [{"name": "input2", "shape": [1], "datatype": "BOOL", "data": [true]}]}`, 400, `input \"input2\" is not an input of the model; it takes \"input0\", \"input1\"`},
		{"missing input", nil, `{"inputs": [{"name": "input0", "shape": [2, 2], "datatype": "INT64", "data": [1, 2, 3, 4]}]}`, 400, `missing required input \"input1\"`},
		{"wrong datatype", nil, `{"inputs": [{"name": "input0", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]},
			{"name": "input1", "shape": [3], "datatype": "BOOL", "data": [true, false, true]}]}`, 400, `input \"input0\" has datatype FP32, but the model takes int64`},
		{"bad shape", nil, `{"inputs": [{"name": "input0", "shape": [4], "datatype": "INT64", "data": [1, 2, 3, 4]},
			{"name": "input1", "shape": [3], "datatype": "BOOL", "data": [true, false, true]}]}`, 400, `input \"input0\" has shape (4,), but the model expects (2, 2)`},
		{"bad JSON", nil, `{"inputs": [`, 400, "malformed JSON"},
		{"bad header length", map[string]string{HeaderInferHeaderLength: "ten"}, good + "}", 400, `Inference-Header-Content-Length \"ten\" is not a length`},
		{"header length past the body", map[string]string{HeaderInferHeaderLength: "100000"}, good + "}", 400, "Inference-Header-Content-Length is 100000, but the body has only"},
	} {
		r := doRequest(t, "POST", url, tc.header, []byte(tc.body))
		if r.status != tc.status || !strings.Contains(string(r.body), tc.msg) {
			t.Errorf("%s: %d %s; want %d with %s", tc.name, r.status, r.body, tc.status, tc.msg)
		}
		var body map[string]any
		if json.Unmarshal(r.body, &body) != nil || body["error"] == nil {
			t.Errorf("%s: body %s is not the protocol's error object", tc.name, r.body)
		}
	}
	if r := doRequest(t, "POST", ts.url+"/v2/models/other/infer", nil, []byte(good+"}")); r.status != 404 {
		t.Errorf("unknown model: %d %s; want 404", r.status, r.body)
	}
	if r := doRequest(t, "POST", ts.url+"/v2/models/mymodel/versions/2/infer", nil, []byte(good+"}")); r.status != 404 ||
		!strings.Contains(string(r.body), `it serves 10 (champion)`) {
		t.Errorf("unknown version: %d %s; want 404 naming the versions served", r.status, r.body)
	}
}

// TestInferMillionElements sends 10^6 values in one request, as JSON and
// as binary data (within the default max_elements, 2^20), and one more
// row than that allows, which gets 413 naming max_elements.
func TestInferMillionElements(t *testing.T) {
	m := loadModel(t, testutil.RecordedModel(t, "churn-gbm", 2))
	ts := startServer(t, Config{}, []RouteSpec{{Name: "churn", Targets: []TargetSpec{{URI: champion, Alias: "champion"}}}},
		map[string]Model{champion: m})
	url := ts.url + "/v2/models/churn/infer"
	const rows = 250_000 // × 4 values
	row := []float32{37, 36, 1306.52, 1}
	var js strings.Builder
	js.WriteString(`{"inputs": [{"name": "input", "shape": [` + strconv.Itoa(rows) + `, 4], "datatype": "FP32", "data": [`)
	for i := range rows {
		if i > 0 {
			js.WriteByte(',')
		}
		js.WriteString("37,36,1306.52,1")
	}
	js.WriteString(`]}]}`)
	r := doRequest(t, "POST", url, nil, []byte(js.String()))
	if r.status != 200 {
		t.Fatalf("JSON with 10^6 values: %d %.300s", r.status, r.body)
	}
	var resp struct {
		Outputs []struct {
			Shape []int64
			Data  []float64
		}
	}
	if err := json.Unmarshal(r.body, &resp); err != nil || len(resp.Outputs) != 1 || len(resp.Outputs[0].Data) != rows {
		t.Fatalf("JSON with 10^6 values: %v, %d outputs", err, len(resp.Outputs))
	}
	first := resp.Outputs[0].Data[0]

	bin := func(n int) ([]byte, int) {
		header := fmt.Sprintf(`{"inputs": [{"name": "input", "shape": [%d, 4], "datatype": "FP32", "parameters": {"binary_data_size": %d}}], "parameters": {"binary_data_output": true}}`, n, 16*n)
		body := []byte(header)
		for range n {
			for _, x := range row {
				body = binary.LittleEndian.AppendUint32(body, math.Float32bits(x))
			}
		}
		return body, len(header)
	}
	body, hl := bin(rows)
	r = doRequest(t, "POST", url, map[string]string{HeaderInferHeaderLength: strconv.Itoa(hl)}, body)
	if r.status != 200 {
		t.Fatalf("binary data with 10^6 values: %d %.300s", r.status, r.body)
	}
	rhl, _ := strconv.Atoi(r.header.Get(HeaderInferHeaderLength))
	if len(r.body)-rhl != 4*rows {
		t.Fatalf("binary response holds %d bytes of data; want %d", len(r.body)-rhl, 4*rows)
	}
	if got := math.Float32frombits(binary.LittleEndian.Uint32(r.body[rhl:])); math.Abs(float64(got)-first) > 1e-6 {
		t.Errorf("binary answer %v; JSON answer %v", got, first)
	}

	over := (1<<20)/4 + 1
	body, hl = bin(over)
	r = doRequest(t, "POST", url, map[string]string{HeaderInferHeaderLength: strconv.Itoa(hl)}, body)
	if r.status != 413 || !strings.Contains(string(r.body), "max_rows") && !strings.Contains(string(r.body), "max_elements") {
		t.Errorf("%d rows: %d %s; want 413 naming the limit", over, r.status, r.body)
	}
}
