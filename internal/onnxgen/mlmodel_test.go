package onnxgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestMLmodelReproducesRecorded rebuilds the MLmodel files a real MLflow 3.5
// server stored: the bytes must be MLflow's, which pins key order, quoting
// and PyYAML's folding of the long signature strings.
func TestMLmodelReproducesRecorded(t *testing.T) {
	colsIn := ColumnsJSON(
		ColSpec{Name: "tenure", Type: "long"},
		ColSpec{Name: "monthly_charges", Type: "double"},
		ColSpec{Name: "total_charges", Type: "double"},
		ColSpec{Name: "contract_months", Type: "long"},
	)
	var namedIn []TensorSpec
	for _, n := range []string{"tenure", "monthly_charges", "total_charges", "contract_months"} {
		namedIn = append(namedIn, TensorSpec{Name: n, DType: "float32", Shape: []int64{-1}})
	}
	gbmSig := &Signature{
		Inputs: TensorsJSON(namedIn...),
		Outputs: TensorsJSON(
			TensorSpec{Name: "label", DType: "int64", Shape: []int64{-1}},
			TensorSpec{Name: "probability", DType: "float32", Shape: []int64{-1}},
		),
	}
	ndarray := &InputExampleInfo{Type: "ndarray"}
	tests := []struct {
		version string
		modelID string
		runID   string
		size    int64
		created string
		sig     *Signature
		example *InputExampleInfo
	}{
		{"v1", "m-297cf642525145a9a1b78850d630dfcc", "cf2941b1111242ff806c0b75daaf749d", 887, "2026-11-22T03:00:41.476179Z",
			&Signature{Inputs: colsIn, Outputs: ColumnsJSON(ColSpec{Name: "probability", Type: "float"})},
			&InputExampleInfo{Type: "dataframe", PandasOrient: "split"}},
		{"v2", "m-8a4b81f78a164884bd56a0a7b757410d", "b8bb2880eff64cf2839703f40a573875", 1145, "2026-11-22T03:00:45.224068Z",
			&Signature{
				Inputs:  TensorsJSON(TensorSpec{DType: "float32", Shape: []int64{-1, 4}}),
				Outputs: TensorsJSON(TensorSpec{Name: "probability", DType: "float32", Shape: []int64{-1, 1}}),
			}, ndarray},
		{"v3", "m-18964efe771e4ee388ae3600444393eb", "0310196eb4e44680ac857a256e54c6ac", 39131, "2026-11-22T03:00:48.336129Z", gbmSig, ndarray},
		{"v4", "m-27fa626c559e41928fdd5a395ddfa166", "f68685d4500742ad998887370296a307", 34034, "2026-11-22T03:09:33.880160Z", gbmSig, ndarray},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			created, err := time.Parse(time.RFC3339Nano, tt.created)
			if err != nil {
				t.Fatal(err)
			}
			m := MLmodel{
				ArtifactPath:   "mlflow-artifacts:/1/models/" + tt.modelID + "/artifacts",
				ModelID:        tt.modelID,
				RunID:          tt.runID,
				ModelSizeBytes: tt.size,
				Signature:      tt.sig,
				InputExample:   tt.example,
				Created:        created,
			}
			compareFile(t, filepath.Join(recordedDir, tt.version, MLmodelFile), m.Marshal)
		})
	}
}

// TestModelSizeBytesMatchesRecorded checks the rule ModelDir uses against the
// recorded models: model_size_bytes is the size of model.onnx and the two
// example files.
func TestModelSizeBytesMatchesRecorded(t *testing.T) {
	for _, v := range []string{"v1", "v2", "v3", "v4"} {
		dir := filepath.Join(recordedDir, v)
		var sum int64
		for _, name := range []string{ModelFile, InputExampleFile, ServingInputExampleFile} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			sum += fi.Size()
		}
		doc := readMLmodel(t, filepath.Join(dir, MLmodelFile))
		if got := doc["model_size_bytes"]; got != int(sum) {
			t.Errorf("%s: model_size_bytes = %v; want the files' total %d", v, got, sum)
		}
	}
}

func readMLmodel(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

func TestMLmodelOptionalKeys(t *testing.T) {
	m := MLmodel{Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key     string
		present bool
		value   any
	}{
		{"artifact_path", false, nil},
		{"run_id", false, nil},
		{"signature", false, nil},
		{"is_signature_from_type_hint", false, nil},
		{"type_hint_from_example", false, nil},
		{"saved_input_example_info", false, nil},
		{"model_id", true, nil},
		{"model_uuid", true, nil},
		{"prompts", true, nil},
		{"mlflow_version", true, DefaultMLflowVersion},
		{"utc_time_created", true, "2026-01-02 03:04:05"},
	}
	for _, tt := range tests {
		v, ok := doc[tt.key]
		if ok != tt.present {
			t.Errorf("key %s present = %v; want %v", tt.key, ok, tt.present)
			continue
		}
		if ok && v != tt.value {
			t.Errorf("%s = %v; want %v", tt.key, v, tt.value)
		}
	}
}

func TestYAMLPlainOK(t *testing.T) {
	tests := []struct {
		in    string
		plain bool
	}{
		{"model.onnx", true},
		{"1.12.0", true},
		{"3.5.2.dev0", true},
		{"mlflow-artifacts:/1/models/m-1/artifacts", true},
		{"pip<=23.0.1", true},
		{"-r requirements.txt", true},
		{"", false},
		{"1.5", false},
		{"12", false},
		{"0x1f", false},
		{"true", false},
		{"No", false},
		{"null", false},
		{"~", false},
		{"2026-11-22 03:00:45.224068", false},
		{"2026-11-22", false},
		{"[1]", false},
		{"{a}", false},
		{"- x", false},
		{"a: b", false},
		{"a:", false},
		{"a #b", false},
		{"a#b", true},
		{"---x", false},
		{" lead", false},
		{"trail ", false},
		{"'q'", false},
		{"héllo", false},
		{"tab\there", false},
	}
	for _, tt := range tests {
		if got := yamlPlainOK(tt.in); got != tt.plain {
			t.Errorf("yamlPlainOK(%q) = %v; want %v", tt.in, got, tt.plain)
		}
	}
}

func TestMLmodelFolding(t *testing.T) {
	long := strings.Repeat("word ", 30) + "end"
	m := MLmodel{Signature: &Signature{Inputs: "[" + long + "]", Outputs: "{it's " + long}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		// A line may pass 80 columns only by the word that crossed the
		// limit (PyYAML breaks at the first space after it).
		if len(line) > yamlWidth+len("word ") {
			t.Errorf("line %d is %d columns: %q", i+1, len(line), line)
		}
	}
	if !strings.Contains(string(b), "outputs: '{it''s word") {
		t.Errorf("quote not doubled:\n%s", b)
	}
	var doc struct {
		Signature map[string]string `yaml:"signature"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Signature["inputs"]; got != "["+long+"]" {
		t.Errorf("inputs read back as %q", got)
	}
	if got := doc.Signature["outputs"]; got != "{it's "+long {
		t.Errorf("outputs read back as %q", got)
	}
}

func TestMLmodelRejectsUnquotableText(t *testing.T) {
	m := MLmodel{Signature: &Signature{Inputs: `[{"name": "é"}]`}}
	if _, err := m.Marshal(); err == nil {
		t.Error("non-ASCII signature marshalled; want an error (safe_dump would double-quote it)")
	}
}

func TestPythonDatetime(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 22, 3, 0, 45, 224068000, time.UTC), "2026-11-22 03:00:45.224068"},
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02 03:04:05"},
		{time.Date(2026, 1, 2, 3, 4, 5, 999, time.UTC), "2026-01-02 03:04:05"},
		{time.Date(2026, 1, 2, 4, 4, 5, 1000, time.FixedZone("x", 3600)), "2026-01-02 03:04:05.000001"},
	}
	for _, tt := range tests {
		if got := pythonDatetime(tt.in); got != tt.want {
			t.Errorf("pythonDatetime(%v) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

// FuzzMLmodelSignature checks that any printable-ASCII signature string,
// folded the way PyYAML folds it, reads back unchanged.
func FuzzMLmodelSignature(f *testing.F) {
	f.Add(`[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]`)
	f.Add("plain text that is long enough to be folded by the emitter at the eighty column mark for sure")
	f.Add("it's  two  spaces  and 'quotes' that run on and on past the limit of eighty columns, yes")
	f.Add("x")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		m := MLmodel{Signature: &Signature{Inputs: s, Outputs: "-"}}
		b, err := m.Marshal()
		if !yamlPrintable(s) {
			if err == nil {
				t.Fatalf("%q marshalled; want an error", s)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		var doc struct {
			Signature map[string]*string `yaml:"signature"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%q: output does not parse: %v\n%s", s, err, b)
		}
		got := doc.Signature["inputs"]
		if s == "" {
			if got != nil {
				t.Fatalf("empty inputs read back as %q; want null", *got)
			}
			return
		}
		if got == nil || *got != s {
			t.Fatalf("inputs %q read back as %v\n%s", s, got, b)
		}
	})
}
