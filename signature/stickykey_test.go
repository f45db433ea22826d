package signature

import (
	"strings"
	"testing"

	"github.com/mlgate/mlgate/internal/testutil"
)

func TestStickyKey(t *testing.T) {
	tests := []struct {
		name   string
		f      Format
		body   string
		column string
		want   string
		ok     bool
	}{
		{"split string", FormatJSON, `{"dataframe_split": {"columns": ["customer", "x"], "data": [["c-42", 1], ["c-7", 2]]}}`, "customer", "c-42", true},
		{"split number", FormatJSON, `{"dataframe_split": {"columns": ["x", "customer"], "data": [[1, 1042]]}}`, "customer", "1042", true},
		{"records", FormatJSON, `{"dataframe_records": [{"customer": "c-1", "x": 3}]}`, "customer", "c-1", true},
		{"instances", FormatJSON, `{"instances": [{"customer": "c-2"}]}`, "customer", "c-2", true},
		{"inputs dict", FormatJSON, `{"inputs": {"customer": ["c-3", "c-4"]}}`, "customer", "c-3", true},
		{"inputs records", FormatJSON, `{"inputs": [{"customer": true}]}`, "customer", "true", true},
		{"csv", FormatCSV, "x,customer\n1,\"c-5\"\n2,c-6\n", "customer", "c-5", true},
		{"missing column", FormatJSON, `{"dataframe_split": {"columns": ["x"], "data": [[1]]}}`, "customer", "", false},
		{"null value", FormatJSON, `{"dataframe_records": [{"customer": null}]}`, "customer", "", false},
		{"malformed", FormatJSON, `{"dataframe_split": `, "customer", "", false},
		{"csv missing", FormatCSV, "x\n1\n", "customer", "", false},
		{"escapes", FormatJSON, `{"dataframe\u005fsplit": {"columns": [1, "x", "cust\u006fmer"], "data": [[0, 1, "c-\u00e9\ud83d\ude00\"\n"]]}}`, "customer", "c-\u00e9\U0001F600\"\n", true},
		{"first of duplicate keys", FormatJSON, `{"inputs": {"x": [1], "customer": [7, 8], "customer": [9]}}`, "customer", "7", true},
		{"list value", FormatJSON, `{"inputs": [{"customer": [1]}]}`, "customer", "", false},
		{"no first record", FormatJSON, `{"dataframe_records": []}`, "customer", "", false},
		{"column past the row", FormatJSON, `{"dataframe_split": {"columns": ["x", "customer"], "data": [[1]]}}`, "customer", "", false},
		{"not an object", FormatJSON, `[{"customer": 1}]`, "customer", "", false},
		{"malformed before the key", FormatJSON, `{"params": {], "inputs": {"customer": [1]}}`, "customer", "", false},
	}
	for _, tt := range tests {
		got, ok := StickyKey(nil, tt.f, []byte(tt.body), tt.column)
		if ok != tt.ok || string(got) != tt.want {
			t.Errorf("%s: got %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// TestStickyKeyLargeBody finds the key of a 700k-row request without
// parsing the rows after the first.
func TestStickyKeyLargeBody(t *testing.T) {
	body := []byte(strings.Replace(splitRows(700_000), `"columns": ["tenure"`, `"columns": ["customer"`, 1))
	buf := make([]byte, 0, 64)
	var ok bool
	n := testing.AllocsPerRun(10, func() { buf, ok = StickyKey(buf[:0], FormatJSON, body, "customer") })
	if !ok || string(buf) != "0" {
		t.Errorf("StickyKey = %q, %v; want \"0\", true", buf, ok)
	}
	if n != 0 && !testutil.RaceEnabled {
		t.Errorf("StickyKey allocates %v times per call; want 0", n)
	}
}

func TestStickyKeyAllocations(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under -race; make test runs this test again without it")
	}
	body := []byte(`{"dataframe_split": {"columns": ["customer"], "data": [["c-42"]]}}`)
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf, _ = StickyKey(buf[:0], FormatJSON, body, "customer") }); n != 0 {
		t.Errorf("StickyKey allocates %v times per call; want 0", n)
	}
}
