package onnxgen

import (
	"bytes"
	"regexp"
	"testing"
)

var uuidV5 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func externalTestModel() *Model {
	big := make([]float32, 500) // 2000 bytes
	for i := range big {
		big[i] = float32(i) / 3
	}
	ints := make([]int64, 150) // 1200 bytes
	for i := range ints {
		ints[i] = int64(i) * -7
	}
	words := make([]string, 300) // never external
	for i := range words {
		words[i] = "word"
	}
	return &Model{Graph: Graph{Initializers: []Tensor{
		Float32s("big", []int64{500}, big),
		Float32s("small", []int64{2}, []float32{1, 2}),
		Strings("words", []int64{300}, words),
		Int64s("ints", []int64{150}, ints),
		Float32s("edge", []int64{256}, make([]float32, 256)), // exactly 1024 bytes
		Float32s("under", []int64{255}, make([]float32, 255)),
	}}}
}

func TestWithExternalData(t *testing.T) {
	m := externalTestModel()
	before := m.Marshal()
	out, ext := m.WithExternalData(DefaultExternalThreshold)
	if ext == nil {
		t.Fatal("no external data; want big, ints and edge moved")
	}
	if !bytes.Equal(m.Marshal(), before) {
		t.Error("WithExternalData modified its receiver")
	}
	if !uuidV5.MatchString(ext.Name) {
		t.Errorf("external-data file name %q does not look like a UUID", ext.Name)
	}
	tests := []struct {
		name           string
		external       bool
		offset, length int64
	}{
		{"big", true, 0, 2000},
		{"small", false, 0, 0},
		{"words", false, 0, 0},
		{"ints", true, 4096, 1200},
		{"edge", true, 8192, 1024},
		{"under", false, 0, 0},
	}
	for i, tt := range tests {
		got := out.Graph.Initializers[i]
		orig := m.Graph.Initializers[i]
		if got.Name != tt.name {
			t.Fatalf("initializer %d is %s; want %s", i, got.Name, tt.name)
		}
		if !tt.external {
			if got.External != nil {
				t.Errorf("%s moved to external data; want it inline", tt.name)
			}
			continue
		}
		e := got.External
		if e == nil {
			t.Errorf("%s stayed inline; want it in external data", tt.name)
			continue
		}
		if e.Location != ext.Name || e.Offset != tt.offset || e.Length != tt.length {
			t.Errorf("%s external ref = %+v; want location %s offset %d length %d", tt.name, *e, ext.Name, tt.offset, tt.length)
		}
		if got.Raw != nil {
			t.Errorf("%s still carries raw data", tt.name)
		}
		if !bytes.Equal(ext.Data[e.Offset:e.Offset+e.Length], orig.Raw) {
			t.Errorf("%s: external bytes differ from the tensor's raw data", tt.name)
		}
	}
	if got, want := len(ext.Data), 8192+1024; got != want {
		t.Errorf("external data is %d bytes; want %d", got, want)
	}
	if gap := ext.Data[2000:4096]; !bytes.Equal(gap, make([]byte, len(gap))) {
		t.Error("alignment gap holds non-zero bytes")
	}

	dec, err := decodeModel(out.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if e := dec.Graph.Initializer("ints").External; e == nil || *e != *out.Graph.Initializer("ints").External {
		t.Errorf("decoded ints external ref = %+v; want %+v", e, out.Graph.Initializer("ints").External)
	}
}

func TestWithExternalDataNameFollowsContent(t *testing.T) {
	_, a := externalTestModel().WithExternalData(DefaultExternalThreshold)
	_, b := externalTestModel().WithExternalData(DefaultExternalThreshold)
	if a.Name != b.Name {
		t.Errorf("same data named %s and %s; want one name", a.Name, b.Name)
	}
	m := externalTestModel()
	m.Graph.Initializers[0].Raw[0] ^= 1
	_, c := m.WithExternalData(DefaultExternalThreshold)
	if c.Name == a.Name {
		t.Errorf("changed data kept the name %s", a.Name)
	}
}

func TestWithExternalDataNothingQualifies(t *testing.T) {
	m := externalTestModel()
	out, ext := m.WithExternalData(1 << 20)
	if ext != nil {
		t.Errorf("external data %s; want none above 1 MiB", ext.Name)
	}
	if !bytes.Equal(out.Marshal(), m.Marshal()) {
		t.Error("model changed although nothing moved")
	}
}
