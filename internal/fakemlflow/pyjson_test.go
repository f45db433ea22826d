package fakemlflow

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestPythonJSONRoundTrip re-encodes every recorded JSON body of every
// store: indented bodies with dumpIndent, one-line error bodies with
// dumpCompact. Each must come back byte for byte.
func TestPythonJSONRoundTrip(t *testing.T) {
	var recs []*Recording
	for _, st := range recordedStores {
		recs = append(recs, loadStore(t, st.store, st.cases)...)
	}
	n := 0
	for _, rec := range recs {
		if rec.Header.Get("Content-Type") != "application/json" {
			continue
		}
		v, err := parseOrdered(rec.RespBody)
		if err != nil {
			t.Errorf("%s: %v", rec.Name, err)
			continue
		}
		got := dumpIndent(v)
		if !bytes.Contains(rec.RespBody, []byte("\n")) {
			got = dumpCompact(v)
		}
		if !bytes.Equal(got, rec.RespBody) {
			t.Errorf("%s: got\n%s\nwant\n%s", rec.Name, got, rec.RespBody)
		}
		n++
	}
	if n < 65 {
		t.Errorf("round-tripped %d JSON bodies; want at least 65", n)
	}
}

func TestPythonJSONStrings(t *testing.T) {
	tests := []struct {
		in   any
		want string // what Python's json.dumps writes
	}{
		{"plain </script> & 'quotes'", `"plain </script> & 'quotes'"`},
		{"caf\u00e9", `"caf\u00e9"`},
		{"\U0001F600", `"\ud83d\ude00"`},
		{"tab\tnl\ncr\rbs\\q\"", `"tab\tnl\ncr\rbs\\q\""`},
		{"\x00\x1f\x7f\b\f", `"\u0000\u001f\u007f\b\f"`},
		{Object{}, `{}`},
		{[]any{}, `[]`},
		{Object{{"a", []any{int64(1), true, nil, json.Number("0.7922269005550396")}}}, `{"a": [1, true, null, 0.7922269005550396]}`},
	}
	for _, tt := range tests {
		if got := string(dumpCompact(tt.in)); got != tt.want {
			t.Errorf("dumpCompact(%#v): got %s; want %s", tt.in, got, tt.want)
		}
	}
	got := string(dumpIndent(Object{{"a", Object{{"b", []any{"x"}}, {"c", Object{}}}}}))
	want := "{\n  \"a\": {\n    \"b\": [\n      \"x\"\n    ],\n    \"c\": {}\n  }\n}"
	if got != want {
		t.Errorf("dumpIndent: got\n%s\nwant\n%s", got, want)
	}
}
