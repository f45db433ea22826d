package signature

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// wideColumns returns a signature part of n double columns named c0, c1,
// ...; the last one is named dup when dup is not empty.
func wideColumns(n int, dup string) string {
	var sb strings.Builder
	sb.Grow(n * 40)
	sb.WriteByte('[')
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		name := "c" + strconv.Itoa(i)
		if i == n-1 && dup != "" {
			name = dup
		}
		fmt.Fprintf(&sb, `{"type": "double", "name": %q}`, name)
	}
	sb.WriteByte(']')
	return sb.String()
}

// TestParseSignatureWide parses signatures of up to a million columns. The
// duplicate-name check is a set, so the widest signature MaxColumns allows
// parses in time linear in its size, and wider ones are refused by a limit
// that names itself, before anything quadratic could run.
func TestParseSignatureWide(t *testing.T) {
	deep := `[{"type": "array", "name": "a", "items": ` + strings.Repeat(`{"type": "array", "items": `, 70) +
		`{"type": "double"}` + strings.Repeat("}", 70) + "}]"
	tests := []struct {
		name    string
		inputs  string
		params  string
		want    string // error; "" for success
		columns int
	}{
		{name: "MaxColumns columns", inputs: wideColumns(MaxColumns, ""), columns: MaxColumns},
		{name: "a duplicate at the end", inputs: wideColumns(MaxColumns, "c0"),
			want: `signature inputs[9999] ("c0"): the name is used twice`},
		{name: "one column too many", inputs: wideColumns(MaxColumns+1, ""),
			want: "signature inputs: 10001 entries, more than the limit of 10000 (MaxColumns)"},
		{name: "80k columns", inputs: wideColumns(80_000, ""),
			want: "signature inputs: 3028890 bytes, more than the limit of 2097152 (MaxMLmodelBytes)"},
		{name: "a million columns", inputs: wideColumns(1_000_000, ""),
			want: "more than the limit of 2097152 (MaxMLmodelBytes)"},
		{name: "too many params", inputs: `[{"type": "double"}]`,
			params: "[" + strings.Repeat(`{"name": "p", "type": "long"}, `, MaxColumns) + `{"name": "q", "type": "long"}]`,
			want:   "signature params: 10001 entries, more than the limit of 10000 (MaxColumns)"},
		{name: "duplicate params", inputs: `[{"type": "double"}]`,
			params: `[{"name": "p", "type": "long"}, {"name": "q", "type": "long"}, {"name": "p", "type": "long"}]`,
			want:   `signature params[2] ("p"): the name is used twice`},
		{name: "nested too deep", inputs: deep, want: "signature inputs: malformed JSON at byte 1715: nesting deeper than 64 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := ParseSignature(tt.inputs, "", tt.params)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("ParseSignature: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("ParseSignature error %v; want one containing %q", err, tt.want)
			case tt.want == "" && len(sig.Inputs.Columns) != tt.columns:
				t.Fatalf("%d columns; want %d", len(sig.Inputs.Columns), tt.columns)
			}
		})
	}
}

// TestParseMLmodelWide refuses an MLmodel larger than MaxMLmodelBytes
// before parsing its YAML (a million columns is 36 MB of signature), and
// parses one of MaxColumns columns.
func TestParseMLmodelWide(t *testing.T) {
	doc := "flavors:\n  onnx:\n    data: model.onnx\nsignature:\n  inputs: '" + wideColumns(1_000_000, "") + "'\n"
	_, err := ParseMLmodel([]byte(doc))
	want := "parse MLmodel: " + strconv.Itoa(len(doc)) + " bytes, more than the limit of 2097152 (MaxMLmodelBytes)"
	if err == nil || err.Error() != want {
		t.Fatalf("ParseMLmodel error %v; want %q", err, want)
	}
	doc = "flavors:\n  onnx:\n    data: model.onnx\nsignature:\n  inputs: '" + wideColumns(MaxColumns, "") + "'\n"
	m, err := ParseMLmodel([]byte(doc))
	if err != nil {
		t.Fatalf("ParseMLmodel of %d columns: %v", MaxColumns, err)
	}
	if n := len(m.Signature.Inputs.Columns); n != MaxColumns {
		t.Fatalf("%d columns; want %d", n, MaxColumns)
	}
}

// wideGraph returns n float32 graph inputs named x0, x1, ... of shape (-1,).
func wideGraph(n int) []GraphTensor {
	g := make([]GraphTensor, n)
	for i := range g {
		g[i] = gt("x"+strconv.Itoa(i), Float32, -1)
	}
	return g
}

// TestCompileWide compiles the widest signatures and graphs MaxColumns
// allows, matching names through maps, and refuses wider graphs.
func TestCompileWide(t *testing.T) {
	var sb strings.Builder
	sb.WriteByte('[')
	for i := MaxColumns - 1; i >= 0; i-- { // in the reverse of graph order
		fmt.Fprintf(&sb, `{"type": "tensor", "name": "x%d", "tensor-spec": {"dtype": "float32", "shape": [-1]}}`, i)
		if i > 0 {
			sb.WriteString(", ")
		}
	}
	sb.WriteByte(']')
	tensors := mustSig(t, sb.String(), "", "")
	p := mustPlan(t, tensors, wideGraph(MaxColumns))
	if p.RowWidth() != MaxColumns || p.Limits(Limits{}).MaxRows != DefaultMaxElements/MaxColumns {
		t.Errorf("RowWidth %d, default MaxRows %d; want %d and %d", p.RowWidth(), p.Limits(Limits{}).MaxRows, MaxColumns, DefaultMaxElements/MaxColumns)
	}

	cols := mustSig(t, strings.ReplaceAll(wideColumns(MaxColumns, ""), `"c`, `"x`), "", "")
	mustPlan(t, cols, wideGraph(MaxColumns))
	mustPlan(t, cols, []GraphTensor{gt("input", Float32, -1, MaxColumns)})

	dup := wideGraph(MaxColumns)
	dup[MaxColumns-1].Name = "x17"
	if _, err := Compile(tensors, dup); err == nil || !strings.Contains(err.Error(), `graph inputs 17 and 9999 are both named "x17"`) {
		t.Errorf("Compile with a duplicate graph input: %v", err)
	}
	if _, err := Compile(nil, wideGraph(MaxColumns+1)); err == nil || !strings.Contains(err.Error(), "model graph has 10001 inputs, more than the limit of 10000 (MaxColumns)") {
		t.Errorf("Compile of %d inputs: %v", MaxColumns+1, err)
	}
}

// BenchmarkParseSignatureWide parses and compiles a signature of
// MaxColumns columns.
func BenchmarkParseSignatureWide(b *testing.B) {
	text := wideColumns(MaxColumns, "")
	graph := []GraphTensor{gt("input", Float32, -1, MaxColumns)}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		sig, err := ParseSignature(text, "", "")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Compile(sig, graph); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSignatureRefused measures how long refusing the 80k and
// million-column signatures takes.
func BenchmarkParseSignatureRefused(b *testing.B) {
	for _, n := range []int{80_000, 1_000_000} {
		text := wideColumns(n, "")
		b.Run("columns="+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				if _, err := ParseSignature(text, "", ""); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
