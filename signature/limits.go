package signature

import (
	"strconv"
	"unsafe"
)

// Limits on what a model's metadata may hold. A model that exceeds one is
// refused when it loads, with an error naming the limit; none of them
// comes near a real MLflow model, and each keeps parsing linear in time
// and bounded in memory.
const (
	// MaxColumns bounds the entries of a signature's inputs, of its
	// outputs and of its params, the properties of one object type, and
	// the inputs of a model graph.
	MaxColumns = 10_000
	// MaxSignatureDepth bounds the JSON nesting of each part of a
	// signature (an array of objects of arrays ... of a column type).
	MaxSignatureDepth = 64
	// MaxMLmodelBytes bounds the MLmodel file ParseMLmodel accepts, and
	// each signature part ParseSignature accepts. It leaves room for a
	// signature of MaxColumns columns with names of about 150 bytes, and
	// parses in under 2 s.
	MaxMLmodelBytes = 2 << 20
)

// MaxRequestDepth bounds the JSON nesting of a request body. It is below
// fastjson's own limit, so that a body the scanner accepts always parses.
const MaxRequestDepth = 256

// tooMany reports a count over a limit: "80000 entries, more than the
// limit of 10000 (MaxColumns)".
func tooMany(n int, what string, limit int, name string) string {
	return strconv.Itoa(n) + " " + what + ", more than the limit of " + strconv.Itoa(limit) + " (" + name + ")"
}

// DefaultMaxElements is a request's max_elements when none is configured:
// 1,048,576 values.
const DefaultMaxElements = 1 << 20

// Limits bounds the work one request may ask of Plan.Measure and
// Plan.DecodeLimited. Zero fields take the plan's defaults (Plan.Limits).
type Limits struct {
	// MaxRows bounds the rows of one request: its records, or the first
	// dimension of its tensors. Zero means MaxElements divided by the
	// plan's RowWidth, and at least 1.
	MaxRows int
	// MaxElements bounds the values of one request: the scalars in its
	// data, and the cells (rows × columns) of the table it decodes into.
	// The whole body may hold at most 2 × MaxElements + 2 × MaxRows + 1024
	// JSON values, lists and objects included. Zero means
	// DefaultMaxElements.
	MaxElements int
}

// Limits returns lim with its zero fields set to the plan's defaults.
func (p *Plan) Limits(lim Limits) Limits {
	if lim.MaxElements <= 0 {
		lim.MaxElements = DefaultMaxElements
	}
	if lim.MaxRows <= 0 {
		lim.MaxRows = max(lim.MaxElements/p.rowWidth, 1)
	}
	return lim
}

// valueBudget is the most JSON values a body within lim may hold: its
// scalars and the lists around them (a list per row, or per scalar for
// innermost lists of one), an index of one entry per row, column names and
// params.
func valueBudget(lim Limits) int {
	return 2*lim.MaxElements + 2*lim.MaxRows + 1024
}

// RowWidth returns the number of values one row of a request carries: the
// signature's columns for a column-based signature, otherwise the values
// per row of every input tensor together (the product of the dimensions
// after the first, a variable dimension counting as 1). It is at least 1;
// the default max_rows is derived from it.
func (p *Plan) RowWidth() int { return p.rowWidth }

func (p *Plan) computeRowWidth() int {
	if p.mode == modeColumns {
		return len(p.fields)
	}
	const most = 1 << 31
	w := 0
	for i := range p.fields {
		n := 1
		for k, d := range p.fields[i].shape {
			if k > 0 && d > 1 {
				n = min(n*int(min(d, most)), most)
			}
		}
		w = min(w+n, most)
	}
	return max(w, 1)
}

// Cost is what one request asks for, as Plan.Measure counts it.
type Cost struct {
	Format Format
	// Bytes is the length of the body.
	Bytes int
	// Rows are the request's records (the first dimension of its data).
	Rows int
	// Elements are the scalar values of its data; for CSV, the fields of
	// its data rows.
	Elements int
	// Values counts every JSON value of the body, lists and objects
	// included, each of which becomes a node of the parsed tree; for CSV,
	// every field, header included.
	Values int

	// What DecodeMeasured needs to skip the pass: the plan and limits the
	// body was measured for, the body's address, and whether it holds
	// Infinity literals.
	plan *Plan
	lim  Limits
	body uintptr
	inf  bool
	// header is the length of an inference request's JSON object, and
	// binary that of the binary tensor data after it.
	header, binary int
}

// measures reports whether c was measured by p for body.
func (c *Cost) measures(p *Plan, body []byte) bool {
	return c.plan == p && c.Bytes == len(body) && c.body == uintptr(unsafe.Pointer(unsafe.SliceData(body)))
}

// Memory estimates the bytes that serving the request holds at its peak:
// the body and the decoder's copies of it, a parsed node per JSON value
// (or a span per CSV field), the cell table, the feeds, the model's input
// and output tensors, and the response. It errs on the high side.
func (c Cost) Memory() int64 {
	perValue := int64(104) // a fastjson.Value and the slot that points at it
	if c.Format == FormatCSV {
		perValue = 24 // a span
	}
	return 3*int64(c.Bytes) + perValue*int64(c.Values) + 48*int64(c.Elements) + 128*int64(c.Rows)
}
