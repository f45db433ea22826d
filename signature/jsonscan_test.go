package signature

import (
	"strings"
	"testing"
)

func TestScanJSON(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for valid JSON
		inf  bool
	}{
		{`{"a": [1, -0, 0.5e-3, 1E+2, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9"]}`, "", false},
		{`[-Infinity, Infinity, NaN]`, "", true},
		{` "Infinity" `, "", false},
		{"\"\u00e9\U0001F600\"", "", false},
		{`{"a" 1}`, "byte 5: expected ':' after a key, got '1'", false},
		{`{1: 2}`, "byte 1: expected a string key, got '1'", false},
		{`{"a": 1,}`, "byte 8: expected a string key, got '}'", false},
		{`[1 2]`, "byte 3: expected ',' or ']', got '2'", false},
		{`{"a": 1 "b": 2}`, "byte 8: expected ',' or '}', got '\"'", false},
		{`{"a": 1`, "byte 7: expected ',' or '}', got the end of the body", false},
		{`[1,]`, "byte 3: expected a value, got ']'", false},
		{`"abc`, "byte 0: unterminated string", false},
		{`"abc\`, "byte 0: unterminated string", false},
		{`[tru]`, "byte 1: invalid literal (expected true), got 't'", false},
		{`[-]`, "byte 1: invalid number, got '-'", false},
		{`[1.]`, "byte 3: invalid number: expected a digit after '.', got ']'", false},
		{`[1e]`, "byte 3: invalid number: expected a digit in the exponent, got ']'", false},
		{`[1.5e+]`, "byte 6: invalid number: expected a digit in the exponent, got ']'", false},
		{`{"a": [}`, "byte 7: expected a value, got '}'", false},
		{`  `, "byte 2: expected a value, got the end of the body", false},
		{`[1] [2]`, "byte 4: extra data after the JSON value, got '['", false},
		{`{"a":"\u12"}`, `byte 6: invalid \u escape`, false},
		{"[\u00e9]", "byte 1: expected a value, got byte 0xc3", false},
		{"[\x01]", "byte 1: expected a value, got byte 0x1", false},
		{`[-Inf]`, "byte 1: invalid literal (expected -Infinity), got '-'", false},
		{`{"a":` + strings.Repeat("[", 256) + strings.Repeat("]", 256) + `}`, "nesting deeper than 256 levels", false},
		{`{"a":` + strings.Repeat("{\"b\":", 256) + "1" + strings.Repeat("}", 256) + `}`, "nesting deeper than 256 levels", false},
	}
	for _, tt := range tests {
		inf, err := scanJSON([]byte(tt.in), MaxRequestDepth)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("scanJSON(%.40q) = %v; want valid", tt.in, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("scanJSON(%.40q) = %v; want an error containing %q", tt.in, err, tt.want)
		case inf != tt.inf:
			t.Errorf("scanJSON(%.40q) infinity = %v; want %v", tt.in, inf, tt.inf)
		}
	}
}

func TestRewriteInfinity(t *testing.T) {
	in := `{"a": [Infinity, -Infinity, "Infinity \" Infinity", NaN]}`
	want := `{"a": [inf     , -inf     , "Infinity \" Infinity", NaN]}`
	if got := string(rewriteInfinity(nil, []byte(in))); got != want {
		t.Errorf("rewriteInfinity = %s; want %s", got, want)
	}
}

func TestMessageHelpers(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	if got, want := nameList(names), `"a", "b", "c", "d", "e", "f", "g", "h", and 2 more`; got != want {
		t.Errorf("nameList = %s; want %s", got, want)
	}
	if got := nameList(nil); got != "none" {
		t.Errorf("nameList(nil) = %s; want none", got)
	}
	long := strings.Repeat("é", 30) // 60 bytes
	if got, want := quote(long), `"`+strings.Repeat("é", 20)+`"...`; got != want {
		t.Errorf("quote = %s; want %s", got, want)
	}
	if got := DType(99).String(); got != "DType(99)" {
		t.Errorf("DType(99).String() = %s", got)
	}
	if got := DataType(99).String(); got != "DataType(99)" {
		t.Errorf("DataType(99).String() = %s", got)
	}
}
