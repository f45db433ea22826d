package onnxgen

import (
	"encoding/binary"
	"math"
)

// Tensor is a constant tensor (TensorProto): a graph initializer or an
// attribute value. Its data is either Raw (every type but String) or Strings.
// After Model.WithExternalData, External is set instead of Raw.
type Tensor struct {
	Name string
	Type DataType
	Dims []int64
	// Raw is the little-endian, fixed-width element data (raw_data): one
	// byte per bool, IEEE 754 for floats.
	Raw []byte
	// Strings holds the elements of a String tensor (string_data).
	Strings [][]byte
	// External, when set, says where Raw lives outside the model file.
	External *ExternalRef
	Doc      string
}

// ExternalRef locates a tensor's raw data in an external-data file. It is
// written as TensorProto.external_data entries "location", "offset" and
// "length" with data_location EXTERNAL, as onnx's external_data_helper does.
type ExternalRef struct {
	// Location is the file's path relative to model.onnx's directory.
	Location string
	Offset   int64
	Length   int64
}

// NumElements returns the product of t's dimensions (1 for a scalar).
func (t *Tensor) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Float32s returns a Float tensor holding v in row-major order.
func Float32s(name string, dims []int64, v []float32) Tensor {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, Type: Float, Dims: dims, Raw: raw}
}

// Float64s returns a Double tensor holding v in row-major order.
func Float64s(name string, dims []int64, v []float64) Tensor {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(x))
	}
	return Tensor{Name: name, Type: Double, Dims: dims, Raw: raw}
}

// Int32s returns an Int32 tensor holding v in row-major order.
func Int32s(name string, dims []int64, v []int32) Tensor {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	return Tensor{Name: name, Type: Int32, Dims: dims, Raw: raw}
}

// Int64s returns an Int64 tensor holding v in row-major order.
func Int64s(name string, dims []int64, v []int64) Tensor {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return Tensor{Name: name, Type: Int64, Dims: dims, Raw: raw}
}

// Bools returns a Bool tensor holding v in row-major order.
func Bools(name string, dims []int64, v []bool) Tensor {
	raw := make([]byte, len(v))
	for i, x := range v {
		if x {
			raw[i] = 1
		}
	}
	return Tensor{Name: name, Type: Bool, Dims: dims, Raw: raw}
}

// Strings returns a String tensor holding v in row-major order.
func Strings(name string, dims []int64, v []string) Tensor {
	s := make([][]byte, len(v))
	for i, x := range v {
		s[i] = []byte(x)
	}
	return Tensor{Name: name, Type: String, Dims: dims, Strings: s}
}
