package signature

import (
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// The expected strings were produced by Python 3.11's json.dumps (which
// uses float.__repr__) and are kept here so the tests do not need Python.
func TestAppendPyFloat(t *testing.T) {
	tests := []struct {
		x    float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1, "1.0"},
		{-1, "-1.0"},
		{37, "37.0"},
		{0.1, "0.1"},
		{0.5, "0.5"},
		{1.0 / 3, "0.3333333333333333"},
		{2.0 / 3, "0.6666666666666666"},
		{1e16, "1e+16"},
		{1e15, "1000000000000000.0"},
		{9999999999999998, "9999999999999998.0"},
		{1234567890123456, "1234567890123456.0"},
		{12345678901234567, "1.2345678901234568e+16"},
		{0.0001, "0.0001"},
		{0.00012345, "0.00012345"},
		{0.00001, "1e-05"},
		{1.5e-05, "1.5e-05"},
		{1e-07, "1e-07"},
		{5e-324, "5e-324"},
		{2.2250738585072014e-308, "2.2250738585072014e-308"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{1e22, "1e+22"},
		{1e21, "1e+21"},
		{1e100, "1e+100"},
		{123456.789, "123456.789"},
		{100, "100.0"},
		{math.Nextafter(1, 0), "0.9999999999999999"},
		{0.3, "0.3"},
		{4.35, "4.35"},
		{3.0000000000000004e-05, "3.0000000000000004e-05"},
		{-2.5e-10, "-2.5e-10"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
		// float32 outputs widened exactly to float64.
		{float64(float32(0.23261308670043945)), "0.23261308670043945"},
		{float64(float32(0.1)), "0.10000000149011612"},
		{float64(float32(1306.52)), "1306.52001953125"},
		{float64(float32(96.08)), "96.08000183105469"},
		{float64(float32(math.MaxFloat32)), "3.4028234663852886e+38"},
		{float64(math.SmallestNonzeroFloat32), "1.401298464324817e-45"},
		{float64(float32(16777217)), "16777216.0"},
	}
	for _, tt := range tests {
		if got := string(appendPyFloat(nil, tt.x)); got != tt.want {
			t.Errorf("appendPyFloat(%v) = %s; want %s", tt.x, got, tt.want)
		}
	}
}

func TestAppendPyString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain ascii ~", `"plain ascii ~"`},
		{"q\"b\\s/", `"q\"b\\s/"`},
		{"\n\r\t\b\f\x00\x1f\x7f", `"\n\r\t\b\f\u0000\u001f\u007f"`},
		{"é\u2028€", `"\u00e9\u2028\u20ac"`},
		{"😀", `"\ud83d\ude00"`},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
	}
	for _, tt := range tests {
		if got := string(appendPyString(nil, tt.in)); got != tt.want {
			t.Errorf("appendPyString(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

func TestAppendPredictionsRecorded(t *testing.T) {
	// churn-sk returns a plain float64 (rows, 2) array; the scoring server's
	// recorded bodies are the golden output.
	dir := filepath.Join(realDir, "scoring-server-churn-sk")
	for _, name := range []string{"invocations--csv", "invocations--dataframe_records", "invocations--dataframe_split", "invocations--inputs-records", "invocations--instances"} {
		t.Run(name, func(t *testing.T) {
			want := readFile(t, filepath.Join(dir, name+".json"))
			var rec struct {
				Predictions [][]float64 `json:"predictions"`
			}
			if err := json.Unmarshal(want, &rec); err != nil {
				t.Fatal(err)
			}
			out := Output{DType: Float64, Shape: []int64{int64(len(rec.Predictions)), 2}}
			for _, row := range rec.Predictions {
				out.F64 = append(out.F64, row...)
			}
			for _, records := range []bool{true, false} {
				got, err := AppendPredictions(nil, records, []Output{out})
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want) {
					t.Errorf("records=%v:\n got %s\nwant %s", records, got, want)
				}
			}
		})
	}
}

func TestAppendPredictions(t *testing.T) {
	label := Output{Name: "label", DType: Int64, Shape: []int64{3}, I64: []int64{0, 1, -7}}
	prob := Output{Name: "probability", DType: Float32, Shape: []int64{3, 1}, F32: []float32{0.23261308670043945, 0.5, 1}}
	zipmap := Output{Name: "probabilities", Seq: []MapValue{
		{IntKeys: []int64{0, 1}, Values: []float64{0.8, 0.2}},
		{IntKeys: []int64{0, 1}, Values: []float64{float64(float32(0.1)), 0.9}},
		{StrKeys: []string{"no", "sí"}, Values: []float64{1, 0}},
	}}
	tests := []struct {
		name    string
		records bool
		outs    []Output
		want    string
	}{
		{"records", true, []Output{label, prob},
			`{"predictions": [{"label": 0, "probability": 0.23261308670043945}, {"label": 1, "probability": 0.5}, {"label": -7, "probability": 1.0}]}`},
		{"dict", false, []Output{label, prob},
			`{"predictions": {"label": [0, 1, -7], "probability": [[0.23261308670043945], [0.5], [1.0]]}}`},
		{"records with maps", true, []Output{label, zipmap},
			`{"predictions": [{"label": 0, "probabilities": {"0": 0.8, "1": 0.2}}, {"label": 1, "probabilities": {"0": 0.10000000149011612, "1": 0.9}}, {"label": -7, "probabilities": {"no": 1.0, "s\u00ed": 0.0}}]}`},
		{"dict with maps", false, []Output{zipmap},
			`{"predictions": {"probabilities": [{"0": 0.8, "1": 0.2}, {"0": 0.10000000149011612, "1": 0.9}, {"no": 1.0, "s\u00ed": 0.0}]}}`},
		{"other types", false, []Output{
			{Name: "b", DType: Bool, Shape: []int64{2}, B: []bool{true, false}},
			{Name: "s", DType: String, Shape: []int64{1, 2}, S: []string{"a\"", "ü"}},
			{Name: "i", DType: Int32, Shape: []int64{}, I32: []int32{-3}},
			{Name: "e", DType: Float64, Shape: []int64{2, 0}},
			{Name: "n", DType: Float64, Shape: []int64{3}, F64: []float64{math.NaN(), math.Inf(1), math.Inf(-1)}},
		}, `{"predictions": {"b": [true, false], "s": [["a\"", "\u00fc"]], "i": -3, "e": [[], []], "n": [null, null, null]}}`},
		{"rows of different widths", true, []Output{
			{Name: "label", DType: Int64, Shape: []int64{2}, I64: []int64{0, 1}},
			{Name: "probabilities", DType: Float32, Shape: []int64{2, 2}, F32: []float32{0.25, 0.75, 0.5, float32(math.NaN())}},
		}, `{"predictions": [{"label": 0, "probabilities": [0.25, 0.75]}, {"label": 1, "probabilities": [0.5, null]}]}`},
		{"rows of different widths with maps", true, []Output{
			{Name: "label", DType: String, Shape: []int64{2, 1}, S: []string{"a", "b"}},
			{Name: "scores", DType: Float64, Shape: []int64{2, 1, 2}, F64: []float64{1, 2, 3, 4}},
			{Name: "probabilities", Seq: zipmap.Seq[:2]},
		}, `{"predictions": [{"label": ["a"], "scores": [[1.0, 2.0]], "probabilities": {"0": 0.8, "1": 0.2}}, {"label": ["b"], "scores": [[3.0, 4.0]], "probabilities": {"0": 0.10000000149011612, "1": 0.9}}]}`},
		{"no outputs", true, nil, `{"predictions": []}`},
		{"bare array", true, []Output{{DType: Int64, Shape: []int64{2}, I64: []int64{1, 0}}}, `{"predictions": [1, 0]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendPredictions([]byte("prefix:"), tt.records, tt.outs)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix:"+tt.want {
				t.Errorf("got  %s\nwant prefix:%s", got, tt.want)
			}
			if !json.Valid([]byte(tt.want)) {
				t.Errorf("the expected body is not RFC 8259 JSON")
			}
		})
	}
}

// TestAppendPredictionsNonFinite writes NaN and the infinities both ways:
// null by default, Python's literals when asked.
func TestAppendPredictionsNonFinite(t *testing.T) {
	outs := []Output{
		{Name: "p", DType: Float32, Shape: []int64{3}, F32: []float32{float32(math.NaN()), float32(math.Inf(1)), 0.5}},
		{Name: "q", DType: Float64, Shape: []int64{3}, F64: []float64{math.Inf(-1), 1, 2}},
		{Name: "m", Seq: []MapValue{{IntKeys: []int64{0}, Values: []float64{math.NaN()}}, {}, {}}},
	}
	tests := []struct {
		enc     Encoding
		records bool
		want    string
	}{
		{Encoding{}, true, `{"predictions": [{"p": null, "q": null, "m": {"0": null}}, {"p": null, "q": 1.0, "m": {}}, {"p": 0.5, "q": 2.0, "m": {}}]}`},
		{Encoding{}, false, `{"predictions": {"p": [null, null, 0.5], "q": [null, 1.0, 2.0], "m": [{"0": null}, {}, {}]}}`},
		{Encoding{NonFinite: NonFinitePython}, true, `{"predictions": [{"p": NaN, "q": -Infinity, "m": {"0": NaN}}, {"p": Infinity, "q": 1.0, "m": {}}, {"p": 0.5, "q": 2.0, "m": {}}]}`},
		{Encoding{NonFinite: NonFinitePython}, false, `{"predictions": {"p": [NaN, Infinity, 0.5], "q": [-Infinity, 1.0, 2.0], "m": [{"0": NaN}, {}, {}]}}`},
	}
	for _, tt := range tests {
		got, err := tt.enc.AppendPredictions(nil, tt.records, outs)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s, records=%v:\n got %s\nwant %s", tt.enc.NonFinite, tt.records, got, tt.want)
		}
		if strict := tt.enc.NonFinite == NonFiniteNull; json.Valid(got) != strict {
			t.Errorf("%s: json.Valid = %v; want %v", tt.enc.NonFinite, !strict, strict)
		}
	}
}

func TestParseNonFinite(t *testing.T) {
	for in, want := range map[string]NonFinite{"": NonFiniteNull, "null": NonFiniteNull, "python": NonFinitePython} {
		if got, err := ParseNonFinite(in); err != nil || got != want {
			t.Errorf("ParseNonFinite(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseNonFinite("NaN"); err == nil || !strings.Contains(err.Error(), "want null or python") {
		t.Errorf("ParseNonFinite(NaN): %v; want an error naming the choices", err)
	}
}

func TestAppendPredictionsErrors(t *testing.T) {
	tests := []struct {
		name    string
		records bool
		outs    []Output
		want    string
	}{
		{"records of different row counts", true, []Output{
			{Name: "label", DType: Int64, Shape: []int64{2}, I64: []int64{0, 1}},
			{Name: "probabilities", DType: Float32, Shape: []int64{3, 2}, F32: []float32{0.1, 0.9, 0.2, 0.8, 0.5, 0.5}},
		}, `output "label" has shape (2,) and output "probabilities" shape (3, 2): they cannot be written as one record per row`},
		{"records without rows", true, []Output{
			{Name: "total", DType: Float32, Shape: []int64{}, F32: []float32{1}},
			{Name: "probabilities", DType: Float32, Shape: []int64{2, 2}, F32: []float32{0.1, 0.9, 0.2, 0.8}},
		}, `output "probabilities" has shape (2, 2) and output "total" shape (): they cannot`},
		{"shape mismatch", false, []Output{{Name: "p", DType: Float32, Shape: []int64{3, 1}, F32: []float32{1}}}, `output "p" has 1 values, but its shape [3 1] holds 3`},
		{"negative dimension", false, []Output{{Name: "p", DType: Float32, Shape: []int64{-1}, F32: []float32{1}}}, "negative dimension"},
		{"unsupported type", false, []Output{{Name: "p", DType: Uint8, Shape: []int64{1}}}, "unsupported element type uint8"},
		{"unsupported type in records", true, []Output{{Name: "p", DType: Int8}}, "unsupported element type int8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := AppendPredictions(dst, tt.records, tt.outs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v; want one containing %q", err, tt.want)
			}
			if string(got) != "keep" {
				t.Errorf("dst = %q after an error; want it unchanged", got)
			}
			var se *Error
			if rows := strings.Contains(tt.name, "records of") || strings.Contains(tt.name, "without rows"); rows != errors.As(err, &se) {
				t.Errorf("error %T; want an *Error (a 4xx) exactly for outputs that cannot be written as records", err)
			}
		})
	}
}

func TestAppendError(t *testing.T) {
	got := string(AppendError(nil, CodeBadRequest, "column \"tenure\" (long), row 0: cannot convert the string \"x\" to long\nnext é"))
	want := `{"error_code": "BAD_REQUEST", "message": "column \"tenure\" (long), row 0: cannot convert the string \"x\" to long\nnext \u00e9"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestAppendZeroAlloc(t *testing.T) {
	outs := []Output{
		{Name: "label", DType: Int64, Shape: []int64{16}, I64: make([]int64, 16)},
		{Name: "probability", DType: Float32, Shape: []int64{16}, F32: make([]float32, 16)},
		{Name: "probabilities", Seq: make([]MapValue, 16)},
		{Name: "scores", DType: Float64, Shape: []int64{16, 2}, F64: make([]float64, 32)},
	}
	for i := range 16 {
		outs[0].I64[i] = int64(i % 2)
		outs[1].F32[i] = float32(i) / 17
		outs[2].Seq[i] = MapValue{IntKeys: []int64{0, 1}, Values: []float64{1 - float64(i)/17, float64(i) / 17}}
	}
	outs[3].F64[5] = math.NaN()
	dst := make([]byte, 0, 8192)
	for _, tc := range []struct {
		records bool
		enc     Encoding
	}{{true, Encoding{}}, {false, Encoding{}}, {true, Encoding{NonFinite: NonFinitePython}}} {
		records := tc.records
		allocs := testing.AllocsPerRun(100, func() {
			var err error
			if dst, err = tc.enc.AppendPredictions(dst[:0], records, outs); err != nil {
				t.Fatal(err)
			}
			dst = AppendError(dst[:0], CodeInvalidParameterValue, "message with é and \"quotes\"")
		})
		if allocs != 0 {
			t.Errorf("records=%v: %v allocations per call; want 0", records, allocs)
		}
	}
}

func FuzzAppendPyFloat(f *testing.F) {
	for _, x := range []float64{0, 1e16, 1e-5, 0.1, 5e-324, math.MaxFloat64} {
		f.Add(math.Float64bits(x))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		x := math.Float64frombits(bits)
		s := string(appendPyFloat(nil, x))
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		var back float64
		if err := json.Unmarshal([]byte(s), &back); err != nil || back != x || math.Signbit(back) != math.Signbit(x) {
			t.Fatalf("appendPyFloat(%v) = %s, which reads back as %v (%v)", x, s, back, err)
		}
		if !strings.ContainsAny(s, ".e") {
			t.Fatalf("appendPyFloat(%v) = %s has neither a point nor an exponent", x, s)
		}
	})
}

// TestAppendInferResponseIsStrictJSON: the Open Inference Protocol's JSON
// writes NaN and the infinities as null, in tensors and in maps alike.
func TestAppendInferResponseIsStrictJSON(t *testing.T) {
	outs := []Output{
		{Name: "p", DType: Float32, Shape: []int64{2}, F32: []float32{float32(math.NaN()), 0.5}},
		{Name: "q", DType: Float64, Shape: []int64{1}, F64: []float64{math.Inf(-1)}},
		{Name: "m", Seq: []MapValue{{IntKeys: []int64{0}, Values: []float64{math.Inf(1)}}}},
	}
	body, _, err := AppendInferResponse(nil, nil, &InferResponse{ModelName: "m"}, outs, []int{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"data":[null,0.5]`, `"data":[null]`, `"data":["{\"0\": null}"]`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("%s; want it to contain %s", body, want)
		}
	}
	if !json.Valid(body) {
		t.Errorf("%s is not RFC 8259 JSON", body)
	}
}
