package onnxgen

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
)

// fixtureSpec is what a fixture's model.onnx must declare.
type fixtureSpec struct {
	name     string
	inputs   []ValueInfo
	outputs  []ValueInfo
	ops      []string
	external []string // initializers stored in the external-data file
	sig      bool
	example  string // saved_input_example_info.type
	request  string // the serving example's top-level key
}

func fixtureSpecs() []fixtureSpec {
	n := Dynamic("N")
	vec := func(name string, t DataType) ValueInfo { return ValueInfo{Name: name, Type: TensorType(t, n)} }
	return []fixtureSpec{
		{
			name:     "mlp256",
			inputs:   []ValueInfo{{Name: "input", Type: TensorType(Float, n, Fixed(256))}},
			outputs:  []ValueInfo{{Name: "probability", Type: TensorType(Float, n, Fixed(1))}},
			ops:      []string{"Gemm", "Relu", "Gemm", "Relu", "Gemm", "Sigmoid"},
			external: []string{"W1", "b1", "W2", "b2", "W3"},
			sig:      true, example: "ndarray", request: "inputs",
		},
		{
			name:   "zipmap",
			inputs: []ValueInfo{{Name: "input", Type: TensorType(Float, n, Fixed(3))}},
			outputs: []ValueInfo{
				vec("label", Int64),
				{Name: "probabilities", Type: SequenceType(MapType(Int64, UnrankedTensorType(Float)))},
			},
			ops: []string{"LinearClassifier", "ZipMap"},
			sig: true, example: "dataframe", request: "dataframe_split",
		},
		{
			name:    "dtypes",
			inputs:  []ValueInfo{vec("f32", Float), vec("f64", Double), vec("i32", Int32), vec("i64", Int64), vec("b", Bool), vec("s", String)},
			outputs: []ValueInfo{vec("f32_out", Float), vec("f64_out", Double), vec("i32_out", Int32), vec("i64_out", Int64), vec("b_out", Bool), vec("s_out", String), vec("sum", Double)},
			ops: []string{"Identity", "Identity", "Identity", "Identity", "Identity", "Identity",
				"Cast", "Cast", "Cast", "Cast", "Add", "Add", "Add", "Add"},
			sig: true, example: "ndarray", request: "inputs",
		},
		{
			name:    "fixed1",
			inputs:  []ValueInfo{{Name: "input", Type: TensorType(Float, Fixed(1), Fixed(4))}},
			outputs: []ValueInfo{{Name: "output", Type: TensorType(Float, Fixed(1), Fixed(1))}},
			ops:     []string{"Mul", "ReduceSum"},
			sig:     true, example: "ndarray", request: "inputs",
		},
		{
			name:     WideMLPName,
			inputs:   []ValueInfo{{Name: "input", Type: TensorType(Float, n, Fixed(64))}},
			outputs:  []ValueInfo{{Name: "probability", Type: TensorType(Float, n, Fixed(1))}},
			ops:      []string{"Gemm", "Relu", "Gemm", "Relu", "Gemm", "Relu", "Gemm", "Sigmoid"},
			external: []string{"W1", "b1", "W2", "b2", "W3", "b3", "W4"},
			sig:      true, example: "ndarray", request: "inputs",
		},
		{
			name:    "labelprobs",
			inputs:  []ValueInfo{{Name: "input", Type: TensorType(Float, n, Fixed(3))}},
			outputs: []ValueInfo{vec("label", Int64), {Name: "probabilities", Type: TensorType(Float, n, Fixed(4))}},
			ops:     []string{"MatMul", "Add", "ArgMax", "Softmax"},
			sig:     true, example: "dataframe", request: "dataframe_split",
		},
		{
			name:    "nosig",
			inputs:  []ValueInfo{{Name: "input", Type: TensorType(Float, n, Fixed(4))}},
			outputs: []ValueInfo{{Name: "probability", Type: TensorType(Float, n, Fixed(1))}},
			ops:     []string{"MatMul", "Add", "Sigmoid"},
			sig:     false, example: "ndarray", request: "inputs",
		},
	}
}

// fixtureFiles returns every fixture by name: those under testdata/models
// and widemlp, which is generated where it is needed. They are built once
// per test binary.
func fixtureFiles(t *testing.T) map[string]Fixture {
	t.Helper()
	all, err := allFixtures()
	if err != nil {
		t.Fatal(err)
	}
	return all
}

var allFixtures = sync.OnceValues(func() (map[string]Fixture, error) {
	fixtures, err := Fixtures()
	if err != nil {
		return nil, err
	}
	wide, err := WideMLP()
	if err != nil {
		return nil, err
	}
	byName := make(map[string]Fixture)
	for _, f := range append(fixtures, wide) {
		byName[f.Name] = f
	}
	return byName, nil
})

func fileOf(f Fixture, name string) []byte {
	for _, file := range f.Files {
		if file.Name == name {
			return file.Data
		}
	}
	return nil
}

// TestFixtureModels decodes each fixture's model.onnx and checks its
// declared interface, operators, opsets and external data.
func TestFixtureModels(t *testing.T) {
	all := fixtureFiles(t)
	specs := fixtureSpecs()
	if len(all) != len(specs) {
		t.Errorf("%d fixtures; the test knows %d", len(all), len(specs))
	}
	for _, spec := range specs {
		t.Run(spec.name, func(t *testing.T) {
			f, ok := all[spec.name]
			if !ok {
				t.Fatalf("no fixture %s", spec.name)
			}
			m, err := decodeModel(fileOf(f, ModelFile))
			if err != nil {
				t.Fatalf("decode model.onnx: %v", err)
			}
			if m.IRVersion != DefaultIRVersion {
				t.Errorf("ir_version = %d; want %d", m.IRVersion, DefaultIRVersion)
			}
			if !reflect.DeepEqual(m.Opsets, DefaultOpsets()) {
				t.Errorf("opsets = %v; want %v", m.Opsets, DefaultOpsets())
			}
			if !reflect.DeepEqual(m.Graph.Inputs, spec.inputs) {
				t.Errorf("inputs = %+v; want %+v", m.Graph.Inputs, spec.inputs)
			}
			if !reflect.DeepEqual(m.Graph.Outputs, spec.outputs) {
				t.Errorf("outputs = %+v; want %+v", m.Graph.Outputs, spec.outputs)
			}
			var ops []string
			for _, n := range m.Graph.Nodes {
				ops = append(ops, n.OpType)
				wantDomain := ""
				if n.OpType == "LinearClassifier" || n.OpType == "ZipMap" {
					wantDomain = DomainML
				}
				if n.Domain != wantDomain {
					t.Errorf("node %s domain = %q; want %q", n.Name, n.Domain, wantDomain)
				}
			}
			if !reflect.DeepEqual(ops, spec.ops) {
				t.Errorf("ops = %v; want %v", ops, spec.ops)
			}

			var external []string
			extFiles := map[string]bool{}
			for _, in := range m.Graph.Initializers {
				if e := in.External; e != nil {
					external = append(external, in.Name)
					extFiles[e.Location] = true
					data := fileOf(f, e.Location)
					if data == nil {
						t.Errorf("initializer %s points at %s, which the fixture lacks", in.Name, e.Location)
						continue
					}
					if e.Offset%4096 != 0 || e.Offset+e.Length > int64(len(data)) {
						t.Errorf("initializer %s external range %d+%d is unaligned or past %d bytes", in.Name, e.Offset, e.Length, len(data))
					}
					if want := in.NumElements() * int64(in.Type.Size()); e.Length != want {
						t.Errorf("initializer %s external length %d; want %d", in.Name, e.Length, want)
					}
				} else if in.Type != String && int64(len(in.Raw)) != in.NumElements()*int64(in.Type.Size()) {
					t.Errorf("initializer %s holds %d raw bytes for %d elements", in.Name, len(in.Raw), in.NumElements())
				}
			}
			if !reflect.DeepEqual(external, spec.external) {
				t.Errorf("external initializers = %v; want %v", external, spec.external)
			}
			if len(extFiles) > 1 {
				t.Errorf("external data spread over %d files; want one", len(extFiles))
			}
			// The directory holds the MLflow files, expected.json and the
			// external-data file, nothing else.
			want := []string{MLmodelFile, CondaFile, expectedFileName, InputExampleFile, ModelFile,
				PythonEnvFile, RequirementsFile, ServingInputExampleFile}
			for loc := range extFiles {
				if !uuidV5.MatchString(loc) {
					t.Errorf("external-data file %q is not UUID-named", loc)
				}
				want = append(want, loc)
			}
			var names []string
			for _, file := range f.Files {
				names = append(names, file.Name)
			}
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Errorf("files = %v; want %v", names, want)
			}
		})
	}
}

// TestFixtureMLmodels checks each MLmodel against its directory: the size,
// the signature (present or absent, and consistent with the graph), the
// example info and the serving example's format.
func TestFixtureMLmodels(t *testing.T) {
	all := fixtureFiles(t)
	for _, spec := range fixtureSpecs() {
		t.Run(spec.name, func(t *testing.T) {
			f := all[spec.name]
			dir := t.TempDir()
			if err := WriteDir(dir, f.Files); err != nil {
				t.Fatal(err)
			}
			doc := readMLmodel(t, filepath.Join(dir, MLmodelFile))
			var size int
			for _, file := range f.Files {
				switch file.Name {
				case ModelFile, InputExampleFile, ServingInputExampleFile:
					size += len(file.Data)
				default:
					if uuidV5.MatchString(file.Name) {
						size += len(file.Data)
					}
				}
			}
			if doc["model_size_bytes"] != size {
				t.Errorf("model_size_bytes = %v; want %d", doc["model_size_bytes"], size)
			}
			if id, _ := doc["model_id"].(string); len(id) != 34 || id != doc["model_uuid"] {
				t.Errorf("model_id %v, model_uuid %v; want one m-<32 hex> id", doc["model_id"], doc["model_uuid"])
			}
			info, _ := doc["saved_input_example_info"].(map[string]any)
			if info["type"] != spec.example {
				t.Errorf("saved_input_example_info.type = %v; want %s", info["type"], spec.example)
			}
			sig, hasSig := doc["signature"].(map[string]any)
			if hasSig != spec.sig {
				t.Fatalf("signature present = %v; want %v", hasSig, spec.sig)
			}
			if _, ok := doc["is_signature_from_type_hint"]; ok != spec.sig {
				t.Errorf("is_signature_from_type_hint present = %v; want %v", ok, spec.sig)
			}
			if hasSig {
				checkSignature(t, spec, sig)
			}
			var req map[string]json.RawMessage
			if err := json.Unmarshal(fileOf(f, ServingInputExampleFile), &req); err != nil {
				t.Fatalf("serving example: %v", err)
			}
			if _, ok := req[spec.request]; !ok || len(req) != 1 {
				t.Errorf("serving example keys = %v; want only %s", keys(req), spec.request)
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

// checkSignature compares a tensor signature's specs with the graph
// (dtype per element type, -1 per dynamic dimension); a column signature
// must name one double column per input feature.
func checkSignature(t *testing.T, spec fixtureSpec, sig map[string]any) {
	t.Helper()
	numpy := map[DataType]string{Float: "float32", Double: "float64", Int32: "int32", Int64: "int64", Bool: "bool", String: "str"}
	type tensorSpec struct {
		Name       string `json:"name"`
		Type       string `json:"type"`
		TensorSpec struct {
			DType string  `json:"dtype"`
			Shape []int64 `json:"shape"`
		} `json:"tensor-spec"`
		Required *bool `json:"required"`
	}
	parse := func(key string) []tensorSpec {
		s, _ := sig[key].(string)
		var out []tensorSpec
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			t.Fatalf("signature %s %q: %v", key, s, err)
		}
		return out
	}
	in := parse("inputs")
	if in[0].Type != "tensor" {
		if int64(len(in)) != spec.inputs[0].Type.Shape[1].Value {
			t.Errorf("%d signature columns for %v features", len(in), spec.inputs[0].Type.Shape[1].Value)
		}
		for _, c := range in {
			if c.Type != "double" || c.Required == nil || !*c.Required {
				t.Errorf("column %+v; want a required double", c)
			}
		}
		return
	}
	for key, vis := range map[string][]ValueInfo{"inputs": spec.inputs, "outputs": spec.outputs} {
		specs := parse(key)
		if len(specs) != len(vis) {
			t.Errorf("signature %s has %d specs; graph has %d", key, len(specs), len(vis))
			continue
		}
		for i, s := range specs {
			vi := vis[i]
			if s.Name != "" && s.Name != vi.Name {
				t.Errorf("signature %s[%d] is %s; graph has %s", key, i, s.Name, vi.Name)
			}
			var shape []int64
			for _, d := range vi.Type.Shape {
				if d.Param != "" {
					shape = append(shape, -1)
				} else {
					shape = append(shape, d.Value)
				}
			}
			if s.TensorSpec.DType != numpy[vi.Type.Elem] || !slices.Equal(s.TensorSpec.Shape, shape) {
				t.Errorf("signature %s[%d] = %s %v; graph has %s %v", key, i, s.TensorSpec.DType, s.TensorSpec.Shape, numpy[vi.Type.Elem], shape)
			}
		}
	}
}
