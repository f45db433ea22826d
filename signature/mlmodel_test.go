package signature

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestParseMLmodelRecorded parses every recorded MLmodel and checks it
// against expectations read off the files by hand.
func TestParseMLmodelRecorded(t *testing.T) {
	const v1Summary = "inputs: tenure long, monthly_charges double, total_charges double, contract_months long -> outputs: probability float"
	const v3Summary = "inputs: tenure float32 (-1,), monthly_charges float32 (-1,), total_charges float32 (-1,), contract_months float32 (-1,) -> outputs: label int64 (-1,), probability float32 (-1,)"
	onnx := &ONNXFlavor{Data: "model.onnx", ONNXVersion: "1.12.0", Providers: []string{"CUDAExecutionProvider", "CPUExecutionProvider"}}
	tests := []struct {
		name      string
		version   int
		runID     string
		modelID   string
		created   string
		onnx      *ONNXFlavor
		flavors   []string
		summary   string
		example   InputExampleInfo
		tensorIn  bool
		namedIn   bool
		numInputs int
	}{
		{"churn-gbm", 1, "cf2941b1111242ff806c0b75daaf749d", "m-297cf642525145a9a1b78850d630dfcc", "2026-11-22 03:00:41.476179", onnx,
			[]string{"onnx", "python_function"}, v1Summary,
			InputExampleInfo{ArtifactPath: "input_example.json", Type: "dataframe", PandasOrient: "split", ServingInputPath: "serving_input_example.json"}, false, true, 4},
		{"churn-gbm", 2, "b8bb2880eff64cf2839703f40a573875", "m-8a4b81f78a164884bd56a0a7b757410d", "2026-11-22 03:00:45.224068", onnx,
			[]string{"onnx", "python_function"}, "inputs: tensor float32 (-1, 4) -> outputs: probability float32 (-1, 1)",
			InputExampleInfo{ArtifactPath: "input_example.json", Type: "ndarray", ServingInputPath: "serving_input_example.json"}, true, false, 1},
		{"churn-gbm", 3, "0310196eb4e44680ac857a256e54c6ac", "m-18964efe771e4ee388ae3600444393eb", "2026-11-22 03:00:48.336129", onnx,
			[]string{"onnx", "python_function"}, v3Summary,
			InputExampleInfo{ArtifactPath: "input_example.json", Type: "ndarray", ServingInputPath: "serving_input_example.json"}, true, true, 4},
		{"churn-gbm", 4, "f68685d4500742ad998887370296a307", "m-27fa626c559e41928fdd5a395ddfa166", "2026-11-22 03:09:33.880160", onnx,
			[]string{"onnx", "python_function"}, v3Summary,
			InputExampleInfo{ArtifactPath: "input_example.json", Type: "ndarray", ServingInputPath: "serving_input_example.json"}, true, true, 4},
		{"churn-sk", 1, "2278614bd30e4c3bb4a097f1f1aaebff", "m-a7c4b81640f2447ea43030dec6d3a0ec", "2026-11-22 03:01:08.372523", nil,
			[]string{"python_function", "sklearn"}, "inputs: tenure long, monthly_charges double, total_charges double, contract_months long -> outputs: tensor float64 (-1, 2)",
			InputExampleInfo{ArtifactPath: "input_example.json", Type: "dataframe", PandasOrient: "split", ServingInputPath: "serving_input_example.json"}, false, true, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/v"+strconv.Itoa(tt.version), func(t *testing.T) {
			m := loadMLmodel(t, tt.name, tt.version)
			if m.RunID != tt.runID || m.ModelID != tt.modelID || m.ModelUUID != tt.modelID {
				t.Errorf("run, model id, uuid = %q, %q, %q; want %q, %q, %q", m.RunID, m.ModelID, m.ModelUUID, tt.runID, tt.modelID, tt.modelID)
			}
			if want := "mlflow-artifacts:/1/models/" + tt.modelID + "/artifacts"; m.ArtifactPath != want {
				t.Errorf("ArtifactPath = %q; want %q", m.ArtifactPath, want)
			}
			if m.MLflowVersion != "3.5.2.dev0" || m.UTCTimeCreated != tt.created {
				t.Errorf("MLflowVersion, UTCTimeCreated = %q, %q; want 3.5.2.dev0, %q", m.MLflowVersion, m.UTCTimeCreated, tt.created)
			}
			var flavors []string
			for f := range m.Flavors {
				flavors = append(flavors, f)
			}
			if !sameSet(flavors, tt.flavors) {
				t.Errorf("flavors %v; want %v", flavors, tt.flavors)
			}
			if !reflect.DeepEqual(m.ONNX, tt.onnx) {
				t.Errorf("ONNX = %+v; want %+v", m.ONNX, tt.onnx)
			}
			if m.InputExample == nil || *m.InputExample != tt.example {
				t.Errorf("InputExample = %+v; want %+v", m.InputExample, tt.example)
			}
			if m.Signature == nil {
				t.Fatal("Signature = nil")
			}
			if got := m.Signature.Summary(); got != tt.summary {
				t.Errorf("Summary() = %q;\nwant %q", got, tt.summary)
			}
			in := m.Signature.Inputs
			if in.IsTensor() != tt.tensorIn || in.HasNames() != tt.namedIn || len(in.Columns)+len(in.Tensors) != tt.numInputs {
				t.Errorf("inputs tensor, named, n = %v, %v, %d; want %v, %v, %d", in.IsTensor(), in.HasNames(), len(in.Columns)+len(in.Tensors), tt.tensorIn, tt.namedIn, tt.numInputs)
			}
			if m.Signature.Params != nil {
				t.Errorf("Params = %v; want none (params: null)", m.Signature.Params)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestParseMLmodelSessionOptions(t *testing.T) {
	doc := `
artifact_path: model
flavors:
  onnx:
    data: model.onnx
    onnx_version: 1.17.0
    providers: [CPUExecutionProvider]
    onnx_session_options:
      inter_op_num_threads: 2
      intra_op_num_threads: 4
      execution_mode: parallel
      graph_optimization_level: 99
      extra_session_config:
        session.use_env_allocators: "1"
        session.set_denormal_as_zero: 1
mlflow_version: 2.22.0
model_uuid: 9f2c
run_id: abc
signature:
  inputs: '[{"type": "double", "required": true}]'
  outputs: null
  params: '[{"name": "threshold", "default": 0.5, "shape": null, "type": "double"}]'
`
	m, err := ParseMLmodel([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	so := m.ONNX.SessionOptions
	if so == nil || *so.InterOpNumThreads != 2 || *so.IntraOpNumThreads != 4 || so.ExecutionMode != "parallel" || *so.GraphOptimizationLevel != 99 {
		t.Fatalf("SessionOptions = %+v", so)
	}
	wantCfg := map[string]string{"session.use_env_allocators": "1", "session.set_denormal_as_zero": "1"}
	if !reflect.DeepEqual(so.ExtraSessionConfig, wantCfg) {
		t.Errorf("ExtraSessionConfig = %v; want %v", so.ExtraSessionConfig, wantCfg)
	}
	if m.ModelID != "" || m.ArtifactPath != "model" || m.MLflowVersion != "2.22.0" {
		t.Errorf("ModelID, ArtifactPath, MLflowVersion = %q, %q, %q", m.ModelID, m.ArtifactPath, m.MLflowVersion)
	}
	if got, want := m.Signature.Summary(), "inputs: double -> outputs: none; params: threshold double = 0.5"; got != want {
		t.Errorf("Summary() = %q; want %q", got, want)
	}
	if m.InputExample != nil {
		t.Errorf("InputExample = %+v; want nil", m.InputExample)
	}
}

func TestParseMLmodelErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"not yaml", "flavors: [", "parse MLmodel"},
		{"no flavors", "run_id: x\n", "no flavors"},
		{"onnx without data", "flavors:\n  onnx:\n    onnx_version: 1.0\n", "flavors.onnx: data"},
		{"bad providers", "flavors:\n  onnx:\n    data: model.onnx\n    providers: CPU\n", "providers"},
		{"bad execution mode", "flavors:\n  onnx:\n    data: model.onnx\n    onnx_session_options:\n      execution_mode: fast\n", "execution_mode"},
		{"bad optimization level", "flavors:\n  onnx:\n    data: model.onnx\n    onnx_session_options:\n      graph_optimization_level: 3\n", "graph_optimization_level"},
		{"bad thread count", "flavors:\n  onnx:\n    data: model.onnx\n    onnx_session_options:\n      intra_op_num_threads: many\n", "intra_op_num_threads"},
		{"bad signature", "flavors:\n  python_function: {}\nsignature:\n  inputs: '[{\"type\": \"int\", \"name\": \"a\"}]'\n", `inputs[0] ("a"): unknown type "int"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMLmodel([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseMLmodel error %v; want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseMLmodelNoSignature(t *testing.T) {
	m, err := ParseMLmodel([]byte("flavors:\n  onnx:\n    data: model.onnx\nsignature:\n  inputs: null\n  outputs: null\n  params: null\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Signature != nil {
		t.Errorf("Signature = %+v; want nil when every part is null", m.Signature)
	}
	if m.ONNX.Providers != nil || m.ONNX.SessionOptions != nil {
		t.Errorf("ONNX = %+v; want no providers and no session options", m.ONNX)
	}
}
