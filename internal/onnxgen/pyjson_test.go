package onnxgen

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPythonFloatRepr(t *testing.T) {
	tests := []struct {
		in   float64
		want string // Python 3: repr(float(in))
	}{
		{37, "37.0"},
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{0.1, "0.1"},
		{float64(float32(0.1)), "0.10000000149011612"},
		{float64(float32(96.08)), "96.08000183105469"},
		{-12345.678, "-12345.678"},
		{0.0001, "0.0001"},
		{0.00012, "0.00012"},
		{1e-05, "1e-05"},
		{1.5e-07, "1.5e-07"},
		{1e15, "1000000000000000.0"},
		{9999999999999998, "9999999999999998.0"},
		{1e16, "1e+16"},
		{12345678901234568, "1.2345678901234568e+16"},
		{1e22, "1e+22"},
		{123456789.125, "123456789.125"},
		{5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
	}
	for _, tt := range tests {
		if got := string(appendPyFloat(nil, tt.in)); got != tt.want {
			t.Errorf("repr(%v) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

func TestPythonJSONString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{"béta", `"b\u00e9ta"`},
		{"emoji \U0001F600", `"emoji \ud83d\ude00"`},
		{"q\"b\\", `"q\"b\\"`},
		{"\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"\x01\x1f\x7f", `"\u0001\u001f\u007f"`},
		{"bad \xff", `"bad \ufffd"`},
		{"/", `"/"`},
	}
	for _, tt := range tests {
		if got := string(appendPyString(nil, tt.in)); got != tt.want {
			t.Errorf("json.dumps(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

func TestPythonJSONShapes(t *testing.T) {
	v := Object{
		{"a", []int64{}},
		{"b", Object{}},
		{"c", []any{nil, true, int32(-1), "x", []float32{0.5}}},
	}
	tests := []struct {
		indent int
		want   string
	}{
		{-1, `{"a": [], "b": {}, "c": [null, true, -1, "x", [0.5]]}`},
		{2, "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": [\n    null,\n    true,\n    -1,\n    \"x\",\n    [\n      0.5\n    ]\n  ]\n}"},
		{0, "{\n\"a\": [],\n\"b\": {},\n\"c\": [\nnull,\ntrue,\n-1,\n\"x\",\n[\n0.5\n]\n]\n}"},
	}
	for _, tt := range tests {
		var got []byte
		var err error
		if tt.indent < 0 {
			got, err = PythonJSON(v)
		} else {
			got, err = PythonJSONIndent(v, tt.indent)
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("indent %d: got\n%s\nwant\n%s", tt.indent, got, tt.want)
		}
	}
	if _, err := PythonJSON(map[string]int{"x": 1}); err == nil {
		t.Error("a Go map encoded; want an error (its order is undefined)")
	}
}

// TestPythonJSONReproducesRecordedExamples rebuilds the recorded models'
// example files from their values: the bytes must be MLflow's.
func TestPythonJSONReproducesRecordedExamples(t *testing.T) {
	f32rows := [][]float32{{37, 36, 1306.52, 1}, {20, 96.08, 1927.17, 1}, {32, 20.72, 599.6, 1}}
	columns := []string{"tenure", "monthly_charges", "total_charges", "contract_months"}
	frame := Object{{"columns", columns}, {"data", [][]any{{37, 36.0, 1306.52, 1}, {20, 96.08, 1927.17, 1}, {32, 20.72, 599.6, 1}}}}
	named := Object{
		{"tenure", []float32{37, 20, 32}},
		{"monthly_charges", []float32{36, 96.08, 20.72}},
		{"total_charges", []float32{1306.52, 1927.17, 599.6}},
		{"contract_months", []float32{1, 1, 1}},
	}
	tests := []struct {
		version       string
		example, serv any
	}{
		{"v1", frame, Object{{"dataframe_split", frame}}},
		{"v2", f32rows, Object{{"inputs", f32rows}}},
		{"v3", named, Object{{"inputs", named}}},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			dir := filepath.Join(recordedDir, tt.version)
			compareFile(t, filepath.Join(dir, InputExampleFile), func() ([]byte, error) { return PythonJSON(tt.example) })
			compareFile(t, filepath.Join(dir, ServingInputExampleFile), func() ([]byte, error) { return PythonJSONIndent(tt.serv, 2) })
		})
	}
}

func compareFile(t *testing.T, path string, gen func() ([]byte, error)) {
	t.Helper()
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := gen()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if string(got) != string(want) {
		t.Errorf("%s: got\n%s\nwant\n%s", path, got, want)
	}
}

func FuzzPythonJSONString(f *testing.F) {
	for _, s := range []string{"", "a", "béta", "\U0001F600", "\x00\x7f\"\\", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendPyString(nil, s)
		for _, c := range b {
			if c < 0x20 || c > 0x7e {
				t.Fatalf("encoding of %q holds byte %#x; want printable ASCII only", s, c)
			}
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("encoding %s of %q is not JSON: %v", b, s, err)
		}
		// Ranging over s turns each bad byte into one U+FFFD, as the encoder does.
		var want strings.Builder
		for _, r := range s {
			want.WriteRune(r)
		}
		if back != want.String() {
			t.Fatalf("decoded %q; want %q", back, want.String())
		}
	})
}

func FuzzPythonFloat(f *testing.F) {
	for _, v := range []float64{0, 1, 0.1, 1e-05, 1e16, 1e15, -2.5, 5e-324, math.MaxFloat64} {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		v := math.Float64frombits(bits)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		s := string(appendPyFloat(nil, v))
		back, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Float64bits(back) != bits {
			t.Fatalf("repr %s of %v reads back as %v (%v)", s, v, back, err)
		}
		exp := math.Floor(math.Log10(math.Abs(v)))
		if i := strings.IndexByte(s, 'e'); i >= 0 {
			e, _ := strconv.Atoi(s[i+1:])
			if e >= -4 && e < 16 {
				t.Fatalf("repr %s uses an exponent inside [-4, 16)", s)
			}
			if s[i+1] != '+' && s[i+1] != '-' || len(s[i+2:]) < 2 {
				t.Fatalf("repr %s: exponent needs a sign and two digits", s)
			}
		} else if v != 0 && (exp < -5 || exp > 16) { // one decade of slack for Log10's rounding
			t.Fatalf("repr %s of %v is positional; want exponent form", s, v)
		} else if !strings.Contains(s, ".") {
			t.Fatalf("repr %s has no decimal point", s)
		}
	})
}
