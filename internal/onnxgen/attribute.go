package onnxgen

// AttrType is an attribute's type (AttributeProto.AttributeType).
type AttrType int32

// Attribute types. The values are the AttributeProto.AttributeType numbers.
const (
	AttrFloat   AttrType = 1
	AttrInt     AttrType = 2
	AttrString  AttrType = 3
	AttrTensor  AttrType = 4
	AttrFloats  AttrType = 6
	AttrInts    AttrType = 7
	AttrStrings AttrType = 8
)

// Attribute is a node attribute (AttributeProto). Type selects which value
// field is written; a zero scalar is still written, as onnx.helper does.
// Build one with FloatAttr, IntAttr, StringAttr, TensorAttr, FloatsAttr,
// IntsAttr or StringsAttr.
type Attribute struct {
	Name    string
	Type    AttrType
	F       float32
	I       int64
	S       []byte
	T       *Tensor
	Floats  []float32
	Ints    []int64
	Strings [][]byte
	Doc     string
}

// FloatAttr returns a float attribute.
func FloatAttr(name string, f float32) Attribute {
	return Attribute{Name: name, Type: AttrFloat, F: f}
}

// IntAttr returns an int attribute.
func IntAttr(name string, i int64) Attribute {
	return Attribute{Name: name, Type: AttrInt, I: i}
}

// StringAttr returns a string attribute.
func StringAttr(name, s string) Attribute {
	return Attribute{Name: name, Type: AttrString, S: []byte(s)}
}

// TensorAttr returns a tensor attribute holding t.
func TensorAttr(name string, t Tensor) Attribute {
	return Attribute{Name: name, Type: AttrTensor, T: &t}
}

// FloatsAttr returns a list-of-floats attribute.
func FloatsAttr(name string, v ...float32) Attribute {
	return Attribute{Name: name, Type: AttrFloats, Floats: v}
}

// IntsAttr returns a list-of-ints attribute.
func IntsAttr(name string, v ...int64) Attribute {
	return Attribute{Name: name, Type: AttrInts, Ints: v}
}

// StringsAttr returns a list-of-strings attribute.
func StringsAttr(name string, v ...string) Attribute {
	s := make([][]byte, len(v))
	for i, x := range v {
		s[i] = []byte(x)
	}
	return Attribute{Name: name, Type: AttrStrings, Strings: s}
}
