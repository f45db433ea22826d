package signature

import "github.com/valyala/fastjson"

// This file declares the Open Inference Protocol (KServe V2) side of the
// package: tensor datatypes, the input tensors a request carries, what a
// request asks of its response, and tensor metadata. The protocol's REST
// body is decoded by Plan.MeasureInfer and Plan.DecodeMeasured, its gRPC
// tensors by Plan.MeasureTensors and Plan.DecodeTensors, into the same
// Batch as MLflow's scoring protocol, under the same signature rules.

// Datatype is an Open Inference Protocol tensor datatype.
type Datatype uint8

// The protocol's tensor datatypes.
const (
	DatatypeInvalid Datatype = iota
	DatatypeBool
	DatatypeUint8
	DatatypeUint16
	DatatypeUint32
	DatatypeUint64
	DatatypeInt8
	DatatypeInt16
	DatatypeInt32
	DatatypeInt64
	DatatypeFP16
	DatatypeFP32
	DatatypeFP64
	DatatypeBytes
)

var datatypeNames = [...]string{
	DatatypeInvalid: "INVALID",
	DatatypeBool:    "BOOL",
	DatatypeUint8:   "UINT8",
	DatatypeUint16:  "UINT16",
	DatatypeUint32:  "UINT32",
	DatatypeUint64:  "UINT64",
	DatatypeInt8:    "INT8",
	DatatypeInt16:   "INT16",
	DatatypeInt32:   "INT32",
	DatatypeInt64:   "INT64",
	DatatypeFP16:    "FP16",
	DatatypeFP32:    "FP32",
	DatatypeFP64:    "FP64",
	DatatypeBytes:   "BYTES",
}

var datatypeSizes = [...]int{
	DatatypeBool: 1, DatatypeUint8: 1, DatatypeUint16: 2, DatatypeUint32: 4, DatatypeUint64: 8,
	DatatypeInt8: 1, DatatypeInt16: 2, DatatypeInt32: 4, DatatypeInt64: 8,
	DatatypeFP16: 2, DatatypeFP32: 4, DatatypeFP64: 8, DatatypeBytes: 0,
}

// String returns the protocol's name of t ("FP32", "BYTES", ...).
func (t Datatype) String() string {
	if int(t) < len(datatypeNames) {
		return datatypeNames[t]
	}
	return datatypeNames[DatatypeInvalid]
}

// Size returns the bytes of one element of t in the binary layout; 0 for
// BYTES, whose elements are a 4-byte length and that many bytes.
func (t Datatype) Size() int {
	if int(t) < len(datatypeSizes) {
		return datatypeSizes[t]
	}
	return 0
}

// ParseDatatype returns the datatype named name (case-sensitive, as the
// protocol's strings are).
func ParseDatatype(name string) (Datatype, bool) {
	for t := DatatypeBool; t <= DatatypeBytes; t++ {
		if name == datatypeNames[t] {
			return t, true
		}
	}
	return DatatypeInvalid, false
}

// DatatypeOf returns the protocol datatype of element type d: FP32 for
// float32, BYTES for strings, and so on.
func DatatypeOf(d DType) Datatype {
	switch d {
	case Float32:
		return DatatypeFP32
	case Float64:
		return DatatypeFP64
	case Int8:
		return DatatypeInt8
	case Int16:
		return DatatypeInt16
	case Int32:
		return DatatypeInt32
	case Int64:
		return DatatypeInt64
	case Uint8:
		return DatatypeUint8
	case Uint16:
		return DatatypeUint16
	case Uint32:
		return DatatypeUint32
	case Uint64:
		return DatatypeUint64
	case Bool:
		return DatatypeBool
	case String:
		return DatatypeBytes
	}
	return DatatypeInvalid
}

// Tensor is one input tensor of an inference request as the protocol layer
// hands it to Plan.MeasureTensors and Plan.DecodeTensors: the gRPC
// InferInputTensor, with its data either in Raw (raw_input_contents: the
// binary layout, little-endian, row-major; a BYTES element is a 4-byte
// length and its bytes) or in the one typed contents field that matches
// Datatype. The decoder only reads a Tensor and copies what it keeps.
type Tensor struct {
	Name     string
	Datatype Datatype
	// DatatypeName is the datatype as the request spelled it, for the
	// message when Datatype is DatatypeInvalid.
	DatatypeName string
	Shape        []int64
	// HasRaw reports that the data is in Raw (which may then be empty).
	HasRaw bool
	Raw    []byte

	Bool   []bool
	Int    []int32 // INT8, INT16, INT32
	Int64  []int64
	Uint   []uint32 // UINT8, UINT16, UINT32
	Uint64 []uint64
	FP32   []float32
	FP64   []float64
	Bytes  [][]byte

	// json is the "data" of a tensor of a REST request.
	json *fastjson.Value
}

// InferRequest is what an inference request asks of its response besides
// running its inputs: the id to echo, the outputs to return and whether to
// return them as binary data. Its strings alias the Batch it belongs to.
type InferRequest struct {
	// ID is the request's "id", empty when it has none.
	ID string
	// Outputs lists the requested outputs in request order; empty means
	// every output of the model.
	Outputs []RequestedOutput
	// BinaryOutput is the request's "binary_data_output" parameter: every
	// output is returned as binary data unless it says otherwise.
	BinaryOutput bool
}

// RequestedOutput is one entry of a request's "outputs".
type RequestedOutput struct {
	Name string
	// Binary is the output's "binary_data" parameter; BinarySet reports
	// whether the request gave one.
	Binary, BinarySet bool
}

// binary reports whether output o of r is returned as binary data.
func (r *InferRequest) binary(o *RequestedOutput) bool {
	if o != nil && o.BinarySet {
		return o.Binary
	}
	return r.BinaryOutput
}

// TensorMetadata describes one input or output of a model in the
// protocol's model metadata.
type TensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}
