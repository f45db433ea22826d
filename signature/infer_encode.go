package signature

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// InferResponse names what an inference response reports besides its
// outputs.
type InferResponse struct {
	// ModelName and ModelVersion are the model that answered: mlgate's
	// route name and the registry version that served the request.
	ModelName, ModelVersion string
	// Request is what the request asked for: its id, the outputs to
	// return and which of them as binary data. Nil: every output, as JSON.
	Request *InferRequest
}

// SelectOutputs appends to dst the indexes into outs of the outputs r asks
// for, in the order it asks for them, or of every output when it names
// none. An output the model does not have is an *Error naming the outputs
// it has.
func (r *InferRequest) SelectOutputs(dst []int, outs []Output) ([]int, error) {
	if r == nil || len(r.Outputs) == 0 {
		for i := range outs {
			dst = append(dst, i)
		}
		return dst, nil
	}
	for k := range r.Outputs {
		i := outputIndex(outs, r.Outputs[k].Name)
		if i < 0 {
			names := make([]string, len(outs))
			for j := range outs {
				names[j] = outs[j].Name
			}
			return dst, invalidParam("output %s is not an output of the model; it has %s", quote(r.Outputs[k].Name), nameList(names))
		}
		dst = append(dst, i)
	}
	return dst, nil
}

func outputIndex(outs []Output, name string) int {
	for i := range outs {
		if outs[i].Name == name {
			return i
		}
	}
	return -1
}

// Binary reports whether the k-th output SelectOutputs chose is returned
// as binary data.
func (r *InferRequest) Binary(k int) bool {
	if r == nil {
		return false
	}
	if k < len(r.Outputs) {
		return r.binary(&r.Outputs[k])
	}
	return r.BinaryOutput
}

// AppendInferResponse appends the inference response for the outputs of
// outs that sel indexes (from SelectOutputs) to dst, as compact JSON:
// {"model_name": ..., "model_version": ..., "id": ..., "outputs": [{"name",
// "datatype", "shape", "data"}]}, data flat in row-major order. An output
// the request wants as binary data has instead the parameter
// "binary_data_size", and its bytes are appended to tail in the binary
// layout (little-endian; a BYTES element is a 4-byte length and its
// bytes). A sequence-of-maps output is a BYTES tensor of one JSON object
// per row, {"0": 0.8, "1": 0.2}. Floats are written as Python's json.dumps
// writes them, FP32 with the shortest digits that round-trip as float32. It allocates nothing when dst and tail have room.
func AppendInferResponse(dst, tail []byte, resp *InferResponse, outs []Output, sel []int) ([]byte, []byte, error) {
	start, tailStart := len(dst), len(tail)
	dst = append(dst, `{"model_name":`...)
	dst = appendPyString(dst, resp.ModelName)
	if resp.ModelVersion != "" {
		dst = append(dst, `,"model_version":`...)
		dst = appendPyString(dst, resp.ModelVersion)
	}
	if r := resp.Request; r != nil && r.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = appendPyString(dst, r.ID)
	}
	dst = append(dst, `,"outputs":[`...)
	for k, i := range sel {
		o := &outs[i]
		n := outputLen(o)
		if n < 0 {
			return dst[:start], tail[:tailStart], fmt.Errorf("output %q: unsupported element type %s", o.Name, o.DType)
		}
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = appendPyString(dst, o.Name)
		dst = append(dst, `,"datatype":"`...)
		dst = append(dst, o.Datatype().String()...)
		dst = append(dst, `","shape":`...)
		if o.Seq != nil {
			dst = append(dst, '[')
			dst = strconv.AppendInt(dst, int64(n), 10)
			dst = append(dst, ']')
		} else {
			dst = appendShape(dst, o.Shape)
		}
		if resp.Request.Binary(k) {
			before := len(tail)
			tail = AppendBinary(tail, o)
			dst = append(dst, `,"parameters":{"binary_data_size":`...)
			dst = strconv.AppendInt(dst, int64(len(tail)-before), 10)
			dst = append(dst, "}}"...)
			continue
		}
		dst = append(dst, `,"data":[`...)
		for e := range n {
			if e > 0 {
				dst = append(dst, ',')
			}
			if o.Seq != nil {
				// The map's JSON text, as a string: built in tail, then
				// quoted into dst.
				mark := len(tail)
				tail = appendMap(tail, &o.Seq[e])
				dst = appendPyString(dst, b2s(tail[mark:]))
				tail = tail[:mark]
				continue
			}
			if o.DType == Float32 {
				dst = appendFloat32(dst, o.F32[e])
				continue
			}
			dst = appendElem(dst, o, e)
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, "]}"...), tail, nil
}

func appendShape(dst []byte, shape []int64) []byte {
	dst = append(dst, '[')
	for i, d := range shape {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, d, 10)
	}
	return append(dst, ']')
}

// Datatype returns o's protocol datatype: BYTES for a sequence of maps,
// whose rows are sent as JSON objects.
func (o *Output) Datatype() Datatype {
	if o.Seq != nil {
		return DatatypeBytes
	}
	return DatatypeOf(o.DType)
}

// AppendMapJSON appends m as a JSON object, as a sequence-of-maps output's
// rows are sent: {"0": 0.8, "1": 0.2}.
func AppendMapJSON(dst []byte, m *MapValue) []byte { return appendMap(dst, m) }

// AppendBinary appends o's values in the protocol's binary layout:
// little-endian, row-major, a BOOL as one byte, a BYTES element (a string,
// or a sequence-of-maps row as JSON) as a 4-byte length and its bytes.
func AppendBinary(dst []byte, o *Output) []byte {
	if o.Seq != nil {
		for i := range o.Seq {
			mark := len(dst)
			dst = append(dst, 0, 0, 0, 0)
			dst = appendMap(dst, &o.Seq[i])
			binary.LittleEndian.PutUint32(dst[mark:], uint32(len(dst)-mark-4))
		}
		return dst
	}
	switch o.DType {
	case Float32:
		if littleEndian {
			return append(dst, asBytes(o.F32)...)
		}
		for _, x := range o.F32 {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
		}
	case Float64:
		if littleEndian {
			return append(dst, asBytes(o.F64)...)
		}
		for _, x := range o.F64 {
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
		}
	case Int32:
		if littleEndian {
			return append(dst, asBytes(o.I32)...)
		}
		for _, x := range o.I32 {
			dst = binary.LittleEndian.AppendUint32(dst, uint32(x))
		}
	case Int64:
		if littleEndian {
			return append(dst, asBytes(o.I64)...)
		}
		for _, x := range o.I64 {
			dst = binary.LittleEndian.AppendUint64(dst, uint64(x))
		}
	case Bool:
		for _, x := range o.B {
			if x {
				dst = append(dst, 1)
			} else {
				dst = append(dst, 0)
			}
		}
	case String:
		for _, s := range o.S {
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s)))
			dst = append(dst, s...)
		}
	}
	return dst
}

// AppendInferError appends the protocol's error body, {"error": message},
// to dst.
func AppendInferError(dst []byte, message string) []byte {
	dst = append(dst, `{"error":`...)
	dst = appendPyString(dst, message)
	return append(dst, '}')
}

// InferInputs describes the inputs the plan takes as the protocol's model
// metadata lists them: a column-based signature's columns one tensor each
// (datatype of the column's type, shape [-1], or [-1, 1] for a graph input
// of that shape), a tensor signature's tensors and a model graph's inputs
// with the graph input's datatype and the signature's shape, and an
// unnamed signature's one tensor named after the graph input.
func (p *Plan) InferInputs() []TensorMetadata {
	if !p.named {
		in := &p.inputs[0]
		shape := in.Shape
		if p.mode == modeTensors {
			shape = p.fields[0].shape
		}
		return []TensorMetadata{{Name: in.Name, Datatype: DatatypeOf(in.DType).String(), Shape: cloneShape(shape)}}
	}
	out := make([]TensorMetadata, 0, len(p.fields))
	for i := range p.fields {
		f := &p.fields[i]
		if p.mode != modeColumns {
			out = append(out, TensorMetadata{Name: f.name, Datatype: DatatypeOf(p.inputs[f.feed].DType).String(), Shape: cloneShape(f.shape)})
			continue
		}
		dt := DatatypeOf(f.src)
		if f.src == DTypeInvalid {
			dt = DatatypeBytes
		}
		shape := []int64{-1}
		if !p.packed && f.feed >= 0 && len(p.inputs[f.feed].Shape) == 2 {
			shape = []int64{-1, 1}
		}
		out = append(out, TensorMetadata{Name: f.name, Datatype: dt.String(), Shape: shape})
	}
	return out
}

// InferOutputs describes a model graph's outputs for the protocol's model
// metadata; an output that is not a tensor (DTypeInvalid: a sequence of
// maps) is reported as BYTES of shape [-1], as responses carry it.
func InferOutputs(outs []GraphTensor) []TensorMetadata {
	md := make([]TensorMetadata, len(outs))
	for i, o := range outs {
		if o.DType == DTypeInvalid {
			md[i] = TensorMetadata{Name: o.Name, Datatype: DatatypeBytes.String(), Shape: []int64{-1}}
			continue
		}
		md[i] = TensorMetadata{Name: o.Name, Datatype: DatatypeOf(o.DType).String(), Shape: cloneShape(o.Shape)}
	}
	return md
}

func cloneShape(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return append([]int64(nil), s...)
}
