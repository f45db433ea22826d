package signature

// This file declares the types infer and serve exchange with the package:
// request formats, the decoded Batch and its Feeds, and model Outputs and
// the Prediction that carries them.

// Format is a request body's media type.
type Format uint8

// Request formats accepted on /invocations.
const (
	FormatJSON Format = iota + 1 // application/json: dataframe_split, dataframe_records, instances, inputs (+ params)
	FormatCSV                    // text/csv: a header row, then one row per record
	// FormatInfer is an Open Inference Protocol inference request: a JSON
	// object with "inputs", optionally followed by binary tensor data.
	FormatInfer
)

// Feed is the decoded data of one request for one graph input.
//
// Exactly one of the typed slices is used, chosen by DType. Data is laid
// out row-major (C order) with the shape in Shape. When the graph input has a
// batch dimension, Shape[0] equals the Batch's Rows.
//
// A Feed belongs to its Batch: its slices, and the strings in S, alias the
// Batch's memory and are valid until the Batch is decoded into again or
// returned with PutBatch. Copy what must outlive that.
type Feed struct {
	// Name is the graph input's name.
	Name string
	// DType is the graph input's element type; the decoder has already
	// converted the request's values to it.
	DType DType
	// Shape is this request's tensor shape.
	Shape []int64

	F32 []float32
	F64 []float64
	I32 []int32
	I64 []int64
	B   []bool
	S   []string
}

// Len returns the number of elements in f's data.
func (f *Feed) Len() int {
	switch f.DType {
	case Float32:
		return len(f.F32)
	case Float64:
		return len(f.F64)
	case Int32:
		return len(f.I32)
	case Int64:
		return len(f.I64)
	case Bool:
		return len(f.B)
	case String:
		return len(f.S)
	}
	return 0
}

// Batch holds one decoded request. It is scratch owned by a Plan: get one
// with Plan.GetBatch, fill it with Plan.Decode, and return it with
// Plan.PutBatch when the response has been written. A Batch must not be used
// concurrently, nor after PutBatch.
type Batch struct {
	// Rows is the number of records (the batch dimension) in the request.
	Rows int
	// Records reports how the scoring server shapes this request's
	// predictions: true for the DataFrame path, a list of one object per
	// row ({"predictions": [{"probability": 0.2}, ...]}); false for the
	// tensor path, one entry per output ({"predictions": {"probability":
	// [[0.2], ...]}}). It is true when the signature is column-based, or
	// when the model has no signature and the request was a DataFrame
	// (dataframe_split, dataframe_records or CSV).
	Records bool
	// Feeds holds one entry per graph input, in graph order.
	Feeds []Feed

	scratch *scratch
}

// Prediction is one request's model outputs, as a model hands them to the
// protocol layer that encodes them. Outputs and the memory they point at
// belong to the Prediction: they are valid until Release, which must be
// called exactly once, when the response has been encoded.
type Prediction interface {
	// Outputs returns one entry per model output, in graph order.
	Outputs() []Output
	// Release gives the outputs back to their owner; they must not be
	// used afterwards.
	Release()
}

// Output is one model output for one request, as infer hands it to the
// encoder. Exactly one of the typed slices or Seq is used. The encoder only
// reads it.
type Output struct {
	Name  string
	DType DType
	// Shape is the output's shape for this request (leading dimension =
	// the request's rows when the output has a batch axis).
	Shape []int64

	F32 []float32
	F64 []float64
	I32 []int32
	I64 []int64
	B   []bool
	S   []string

	// Seq holds a sequence-of-maps output (sklearn's ZipMap): one map per
	// row. When Seq is non-nil, DType and the typed slices are unused.
	Seq []MapValue
}

// MapValue is one map of a sequence-of-maps output. Keys are either IntKeys
// or StrKeys; Values holds the value for each key, in the same order.
type MapValue struct {
	IntKeys []int64
	StrKeys []string
	Values  []float64
}
