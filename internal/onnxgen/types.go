package onnxgen

// DataType is an ONNX tensor element type (TensorProto.DataType).
type DataType int32

// ONNX tensor element types. The values are the TensorProto.DataType numbers.
const (
	Undefined DataType = 0
	Float     DataType = 1
	Uint8     DataType = 2
	Int8      DataType = 3
	Uint16    DataType = 4
	Int16     DataType = 5
	Int32     DataType = 6
	Int64     DataType = 7
	String    DataType = 8
	Bool      DataType = 9
	Float16   DataType = 10
	Double    DataType = 11
	Uint32    DataType = 12
	Uint64    DataType = 13
)

// Size returns the number of bytes one element of t takes in raw data, or 0
// for String and types the package does not lay out.
func (t DataType) Size() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16:
		return 2
	case Float, Int32, Uint32:
		return 4
	case Int64, Double, Uint64:
		return 8
	}
	return 0
}

// Dim is one dimension of a tensor shape (TensorShapeProto.Dimension). It is
// a fixed size when Param is empty and Value ≥ 0, a named dynamic size when
// Param is set, and an unnamed dynamic size (an empty Dimension, as some
// exporters write) when Param is empty and Value < 0.
type Dim struct {
	Value int64
	Param string
}

// Fixed returns a dimension of size n.
func Fixed(n int64) Dim { return Dim{Value: n} }

// Dynamic returns a dynamic dimension named param, such as "N" for a batch.
func Dynamic(param string) Dim { return Dim{Param: param} }

// Unnamed returns a dynamic dimension without a name.
func Unnamed() Dim { return Dim{Value: -1} }

// TypeKind tells which member of a TypeProto a Type is.
type TypeKind uint8

// Kinds of Type.
const (
	TensorKind   TypeKind = iota + 1 // TypeProto.tensor_type
	SequenceKind                     // TypeProto.sequence_type
	MapKind                          // TypeProto.map_type
)

// Type is an ONNX value type (TypeProto): a tensor, a sequence or a map.
// Build one with TensorType, UnrankedTensorType, SequenceType or MapType.
type Type struct {
	Kind TypeKind
	// Elem is a tensor's element type, or a map's key type.
	Elem DataType
	// Shape holds a tensor's dimensions when HasShape is set; an empty
	// Shape with HasShape set is a scalar.
	Shape    []Dim
	HasShape bool
	// Value is a sequence's element type, or a map's value type.
	Value *Type
}

// TensorType returns the type of a tensor of elem with the given dimensions.
// No dimensions means a scalar.
func TensorType(elem DataType, dims ...Dim) Type {
	return Type{Kind: TensorKind, Elem: elem, Shape: dims, HasShape: true}
}

// UnrankedTensorType returns the type of a tensor of elem whose shape is not
// declared at all, as ZipMap's map values are.
func UnrankedTensorType(elem DataType) Type {
	return Type{Kind: TensorKind, Elem: elem}
}

// SequenceType returns the type of a sequence of elem.
func SequenceType(elem Type) Type {
	return Type{Kind: SequenceKind, Value: &elem}
}

// MapType returns the type of a map from key to value.
func MapType(key DataType, value Type) Type {
	return Type{Kind: MapKind, Elem: key, Value: &value}
}

// ValueInfo names and types a graph input, output or intermediate value
// (ValueInfoProto).
type ValueInfo struct {
	Name string
	Type Type
	Doc  string
}
