package signature

import (
	"context"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"unsafe"

	"github.com/valyala/fastjson"
)

// An inference request's tensors map to the plan's fields by name: a
// tensor signature's tensors and a model graph's inputs one to one, a
// column-based signature's columns one tensor each, of shape [N] or
// [N, 1], as MLServer's pandas codec maps them. A signature whose
// tensor or columns are unnamed takes one tensor named after the graph
// input. Values convert to the field's type when every value of the
// tensor's datatype fits it: integers widen, any number converts to a
// floating type (FP64 rounds into float32), BOOL only to booleans and
// BYTES only to strings.

// MeasureTensors checks the tensors of an inference request against lim
// (zero fields: Plan.Limits) without decoding them: every tensor's shape
// must hold at most max_elements values and, along its first dimension,
// max_rows rows. The Cost it returns is what DecodeTensors needs.
func (p *Plan) MeasureTensors(ts []Tensor, lim Limits) (Cost, error) {
	lim = p.Limits(lim)
	c := Cost{Format: FormatInfer, plan: p, lim: lim}
	for i := range ts {
		t := &ts[i]
		n, ok := shapeSize(t.Shape, lim.MaxElements-c.Elements)
		if !ok {
			return c, limitError("max_elements", "input %s: the request holds more than %d values (max_elements)", quote(t.Name), lim.MaxElements)
		}
		c.Elements += n
		if len(t.Shape) > 0 {
			if rows := int(t.Shape[0]); rows > lim.MaxRows {
				return c, limitError("max_rows", "input %s: the request has %d rows, more than %d (max_rows)", quote(t.Name), rows, lim.MaxRows)
			}
			c.Rows = max(c.Rows, int(t.Shape[0]))
		}
		c.Bytes += len(t.Raw)
		for _, s := range t.Bytes {
			c.Bytes += len(s)
		}
	}
	return c, nil
}

// DecodeTensors decodes the tensors of an inference request, measured by
// MeasureTensors as c, into b, which must come from p.GetBatch, as
// DecodeMeasured decodes a body: client mistakes are *Error naming the
// input, ctx is looked at now and then. The tensors are only read; b keeps
// copies of their values (strings included), so they may be reused once
// DecodeTensors returns.
func (p *Plan) DecodeTensors(ctx context.Context, ts []Tensor, c Cost, b *Batch) error {
	if b == nil || b.scratch == nil || b.scratch.plan != p {
		panic("signature: DecodeTensors with a Batch that Plan.GetBatch did not return")
	}
	if err := ctx.Err(); err != nil {
		return deadline(err)
	}
	if c.plan != p {
		var err error
		if c, err = p.MeasureTensors(ts, c.lim); err != nil {
			return err
		}
	}
	b.reset()
	d := b.scratch
	d.begin()
	d.ctx, d.lim, d.format = ctx, c.lim, inferFormat
	err := d.fillTensors(b, ts)
	if err == nil {
		err = d.finish(b)
	}
	d.ctx = nil
	return err
}

// shapeSize returns the number of elements of shape, and false when it
// is more than most.
func shapeSize(shape []int64, most int) (int, bool) {
	n := 1
	for _, dim := range shape {
		if dim < 0 {
			return 0, false
		}
		if dim == 0 {
			n = 0
			continue
		}
		if int64(n) > int64(most)/dim {
			return 0, false
		}
		n *= int(dim)
	}
	return n, n <= most
}

// fillTensors maps the request's tensors to the plan's fields and converts
// their values into the feeds.
func (d *scratch) fillTensors(b *Batch, ts []Tensor) error {
	p := d.plan
	for i := range ts {
		t := &ts[i]
		fi := p.inferField(t.Name)
		if fi < 0 {
			return invalidParam("input %s is not an input of the model; it takes %s", quote(t.Name), p.inferInputNames())
		}
		if d.slot[fi] >= 0 {
			return badRequest("input %s appears more than once", quote(t.Name))
		}
		d.slot[fi] = i
		if t.Datatype == DatatypeInvalid {
			return badRequest("input %s: datatype %s is not one of BOOL, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64, FP16, FP32, FP64, BYTES",
				quote(t.Name), quote(t.DatatypeName))
		}
	}
	if !p.named {
		t := &ts[d.slot[0]]
		if p.mode == modeColumns {
			return d.fillPackedColumns(b, t)
		}
		return d.fillTensor(b, &p.fields[0], t)
	}
	if err := d.checkMissingInputs(); err != nil {
		return err
	}
	if p.mode == modeColumns {
		return d.fillColumnTensors(b, ts)
	}
	for fi := range p.fields {
		if err := d.fillTensor(b, &p.fields[fi], &ts[d.slot[fi]]); err != nil {
			return err
		}
	}
	return nil
}

// inferField returns the field an input tensor named name feeds, or -1.
// Unnamed signatures take the graph input's name.
func (p *Plan) inferField(name string) int {
	if !p.named {
		if name == p.inputs[0].Name {
			return 0
		}
		return -1
	}
	if i, ok := p.index[name]; ok {
		return i
	}
	return -1
}

// inferInputNames lists the input tensors the plan takes.
func (p *Plan) inferInputNames() string {
	if !p.named {
		return quote(p.inputs[0].Name)
	}
	return p.fieldNames()
}

// checkMissingInputs reports the required fields no tensor feeds, and a
// field the graph needs that the signature marks optional.
func (d *scratch) checkMissingInputs() error {
	p := d.plan
	var missing []string
	for fi := range p.fields {
		f := &p.fields[fi]
		if d.slot[fi] >= 0 {
			continue
		}
		if f.required {
			missing = append(missing, f.name)
		} else if f.feed >= 0 {
			return invalidParam("the request lacks input %s, which the signature marks optional but the model graph needs as input %s; send it", quote(f.name), quote(p.inputs[f.feed].Name))
		}
	}
	if missing == nil {
		return nil
	}
	what := "input"
	if len(missing) > 1 {
		what += "s"
	}
	return invalidParam("the request is missing required %s %s (the model takes %s)", what, nameList(missing), p.fieldNames())
}

// fillTensor converts tensor t into field f's feed, whose shape it
// becomes.
func (d *scratch) fillTensor(b *Batch, f *field, t *Tensor) error {
	if err := d.checkShape(f, t.Shape); err != nil {
		if f.name == "" {
			return invalidParam("%s has shape %s, but the model expects %s", inputLabel(f, d.plan), shapeString(t.Shape), shapeString(f.shape))
		}
		return err
	}
	n, err := d.tensorSize(t)
	if err != nil {
		return err
	}
	if n == 0 {
		return errNoRows(d.format)
	}
	feed := &b.Feeds[f.feed]
	feed.Shape = append(feed.Shape[:0], t.Shape...)
	feed.resize(n)
	if len(t.Shape) > 0 {
		d.maxRows = max(d.maxRows, int(t.Shape[0]))
	}
	return d.putTensor(f, t, feed, n, 1, 0)
}

// tensorSize returns the elements of t's shape within the request's
// max_elements, and its rows within max_rows.
func (d *scratch) tensorSize(t *Tensor) (int, error) {
	n, ok := shapeSize(t.Shape, d.lim.MaxElements)
	if !ok {
		return 0, limitError("max_elements", "input %s has shape %s, more than %d values (max_elements)", quote(t.Name), shapeString(t.Shape), d.lim.MaxElements)
	}
	if len(t.Shape) > 0 && t.Shape[0] > int64(d.lim.MaxRows) {
		return 0, limitError("max_rows", "input %s has %d rows, more than %d (max_rows)", quote(t.Name), t.Shape[0], d.lim.MaxRows)
	}
	return n, nil
}

// columnRows returns the rows of a column tensor, which must have shape
// [N] or [N, 1].
func (d *scratch) columnRows(f *field, t *Tensor) (int, error) {
	s := t.Shape
	if len(s) == 1 || len(s) == 2 && s[1] == 1 {
		if _, err := d.tensorSize(t); err != nil {
			return 0, err
		}
		return int(s[0]), nil
	}
	return 0, invalidParam("%s has shape %s; a column is sent as a tensor of shape [N] or [N, 1]", f.label(), shapeString(s))
}

// fillColumnTensors converts one tensor per column for a named
// column-based signature, into the packed graph input or one graph input
// per column.
func (d *scratch) fillColumnTensors(b *Batch, ts []Tensor) error {
	p := d.plan
	rows, first := -1, -1
	for fi := range p.fields {
		s := d.slot[fi]
		if s < 0 {
			continue
		}
		n, err := d.columnRows(&p.fields[fi], &ts[s])
		if err != nil {
			return err
		}
		if rows < 0 {
			rows, first = n, fi
		} else if n != rows {
			return invalidParam("the request's columns disagree on the number of rows: %s has %d, %s has %d",
				quote(p.fields[first].name), rows, quote(p.fields[fi].name), n)
		}
	}
	if rows <= 0 {
		return errNoRows(d.format)
	}
	stride := 1
	if p.packed {
		stride = len(p.fields)
		if err := d.fits(rows, stride); err != nil {
			return err
		}
		feed := &b.Feeds[0]
		if len(p.inputs[0].Shape) == 2 {
			feed.Shape = append(feed.Shape[:0], int64(rows), int64(stride))
		} else {
			feed.Shape = append(feed.Shape[:0], int64(rows))
		}
		feed.resize(rows * stride)
	} else {
		for gi := range b.Feeds {
			feed := &b.Feeds[gi]
			if len(p.inputs[gi].Shape) == 2 {
				feed.Shape = append(feed.Shape[:0], int64(rows), 1)
			} else {
				feed.Shape = append(feed.Shape[:0], int64(rows))
			}
			feed.resize(rows)
		}
	}
	d.maxRows = max(d.maxRows, rows)
	for fi := range p.fields {
		f := &p.fields[fi]
		s := d.slot[fi]
		if s < 0 {
			continue
		}
		var feed *Feed
		if f.feed >= 0 {
			feed = &b.Feeds[f.feed]
		}
		if err := d.putTensor(f, &ts[s], feed, rows, stride, f.offset); err != nil {
			return err
		}
	}
	return nil
}

// fillPackedColumns converts the single tensor of shape [N, ncols] (or [N]
// for one column) that feeds an unnamed column-based signature's graph
// input: element (r, c) is column c of row r.
func (d *scratch) fillPackedColumns(b *Batch, t *Tensor) error {
	p := d.plan
	ncols := len(p.fields)
	in := &p.inputs[0]
	want := []int64{-1, int64(ncols)}
	if len(in.Shape) == 1 {
		want = want[:1]
	}
	ok := len(t.Shape) == len(want) && (len(want) == 1 || t.Shape[1] == want[1])
	if !ok {
		return invalidParam("input %s has shape %s, but the model expects %s (one value per column of the signature)", quote(in.Name), shapeString(t.Shape), shapeString(want))
	}
	n, err := d.tensorSize(t)
	if err != nil {
		return err
	}
	if n == 0 {
		return errNoRows(d.format)
	}
	rows := int(t.Shape[0])
	feed := &b.Feeds[0]
	feed.Shape = append(feed.Shape[:0], t.Shape...)
	feed.resize(n)
	d.maxRows = max(d.maxRows, rows)
	for c := range ncols {
		if err := d.putStrided(&p.fields[c], t, feed, n, ncols, c); err != nil {
			return err
		}
	}
	return nil
}

// putTensor converts the n values of t for field f into feed elements off,
// off+stride, ... (feed nil: only checks them).
func (d *scratch) putTensor(f *field, t *Tensor, feed *Feed, n, stride, off int) error {
	if err := d.accepts(f, t); err != nil {
		return err
	}
	if t.json != nil {
		if err := d.jsonLeaves(f, t, n); err != nil {
			return err
		}
	} else if err := d.checkCount(f, t, n); err != nil {
		return err
	}
	if feed != nil && stride == 1 && f.src == feed.DType && d.copyExact(t, feed, n) {
		return nil
	}
	d.rawPos = 0
	for i := range n {
		if err := d.tick(); err != nil {
			return err
		}
		if err := d.putElem(f, t, i, feed, i*stride+off); err != nil {
			return err
		}
	}
	return nil
}

// putStrided converts every stride-th value of t, starting at off, for
// field f into the same elements of feed.
func (d *scratch) putStrided(f *field, t *Tensor, feed *Feed, n, stride, off int) error {
	if err := d.accepts(f, t); err != nil {
		return err
	}
	if off == 0 {
		if t.json != nil {
			if err := d.jsonLeaves(f, t, n); err != nil {
				return err
			}
		} else if err := d.checkCount(f, t, n); err != nil {
			return err
		}
	}
	d.rawPos = 0
	for i := 0; i < n; i++ {
		if err := d.tick(); err != nil {
			return err
		}
		if i%stride != off {
			if t.Datatype == DatatypeBytes && t.HasRaw {
				if _, ok := d.nextRawBytes(t); !ok {
					return d.rawBytesError(f, t, n)
				}
			}
			continue
		}
		if err := d.putElem(f, t, i, feed, i); err != nil {
			return err
		}
	}
	d.rawPos = 0
	return nil
}

// accepts checks that values of t's datatype convert to field f.
func (d *scratch) accepts(f *field, t *Tensor) error {
	ok := false
	dt := t.Datatype
	switch f.src {
	case Bool:
		ok = dt == DatatypeBool
	case Int32:
		ok = dt == DatatypeInt8 || dt == DatatypeInt16 || dt == DatatypeInt32 || dt == DatatypeUint8 || dt == DatatypeUint16
	case Int64:
		ok = dt >= DatatypeInt8 && dt <= DatatypeInt64 || dt >= DatatypeUint8 && dt <= DatatypeUint32
	case Float32, Float64:
		ok = dt >= DatatypeUint8 && dt <= DatatypeFP64
	case String:
		ok = dt == DatatypeBytes
	default:
		if f.col != nil && f.col.Type == TypeDatetime {
			ok = dt == DatatypeBytes
			break
		}
		return invalidParam("%s has type %s, which the Open Inference Protocol cannot carry; send it to /invocations", f.label(), typeString(f.col))
	}
	if ok {
		return nil
	}
	return invalidParam("%s has datatype %s, but the model takes %s (%s)", inputLabel(f, d.plan), dt, f.typeName(), acceptedDatatypes(f.src))
}

// inputLabel names field f as the request names its tensor.
func inputLabel(f *field, p *Plan) string {
	if f.name == "" && len(p.inputs) > 0 {
		return "input " + quote(p.inputs[0].Name)
	}
	return "input " + quote(f.name)
}

// acceptedDatatypes lists the datatypes that convert to element type src.
func acceptedDatatypes(src DType) string {
	switch src {
	case Bool:
		return "send BOOL"
	case Int32:
		return "send INT32, INT16, INT8, UINT16 or UINT8"
	case Int64:
		return "send INT64, INT32, INT16, INT8, UINT32, UINT16 or UINT8"
	case Float32:
		return "send FP32, FP64, FP16 or an integer datatype"
	case Float64:
		return "send FP64, FP32, FP16 or an integer datatype"
	case String:
		return "send BYTES"
	}
	return "send BYTES"
}

// checkCount checks that t's raw or typed data holds n values.
func (d *scratch) checkCount(f *field, t *Tensor, n int) error {
	dt := t.Datatype
	if t.HasRaw {
		if dt == DatatypeBytes {
			return d.checkRawBytes(f, t, n)
		}
		if want := n * dt.Size(); len(t.Raw) != want {
			return invalidParam("%s: its binary data holds %d bytes, but shape %s of %s needs %d", inputLabel(f, d.plan), len(t.Raw), shapeString(t.Shape), dt, want)
		}
		return nil
	}
	got, field := typedLen(t)
	if got != n {
		if got == 0 && anyContents(t) {
			return invalidParam("%s: %s data must be in %s", inputLabel(f, d.plan), dt, field)
		}
		return invalidParam("%s has shape %s, %d values, but its data holds %d", inputLabel(f, d.plan), shapeString(t.Shape), n, got)
	}
	return nil
}

// typedLen returns the length of the typed contents that carry t's
// datatype, and the name of that field.
func typedLen(t *Tensor) (int, string) {
	switch t.Datatype {
	case DatatypeBool:
		return len(t.Bool), "bool_contents"
	case DatatypeInt8, DatatypeInt16, DatatypeInt32:
		return len(t.Int), "int_contents"
	case DatatypeInt64:
		return len(t.Int64), "int64_contents"
	case DatatypeUint8, DatatypeUint16, DatatypeUint32:
		return len(t.Uint), "uint_contents"
	case DatatypeUint64:
		return len(t.Uint64), "uint64_contents"
	case DatatypeFP32:
		return len(t.FP32), "fp32_contents"
	case DatatypeFP64:
		return len(t.FP64), "fp64_contents"
	case DatatypeBytes:
		return len(t.Bytes), "bytes_contents"
	}
	return 0, "raw_input_contents (FP16 has no typed contents)"
}

func anyContents(t *Tensor) bool {
	return len(t.Bool)+len(t.Int)+len(t.Int64)+len(t.Uint)+len(t.Uint64)+len(t.FP32)+len(t.FP64)+len(t.Bytes) > 0
}

// checkRawBytes checks that raw BYTES data holds exactly n elements.
func (d *scratch) checkRawBytes(f *field, t *Tensor, n int) error {
	d.rawPos = 0
	for range n {
		if _, ok := d.nextRawBytes(t); !ok {
			return d.rawBytesError(f, t, n)
		}
	}
	if d.rawPos != len(t.Raw) {
		return invalidParam("%s: its binary data holds more than the %d BYTES elements of shape %s", inputLabel(f, d.plan), n, shapeString(t.Shape))
	}
	d.rawPos = 0
	return nil
}

func (d *scratch) rawBytesError(f *field, t *Tensor, n int) error {
	return invalidParam("%s: its binary data ends before the %d BYTES elements of shape %s (each a 4-byte little-endian length and that many bytes)", inputLabel(f, d.plan), n, shapeString(t.Shape))
}

// nextRawBytes returns the next BYTES element of t's raw data at
// d.rawPos.
func (d *scratch) nextRawBytes(t *Tensor) ([]byte, bool) {
	r := t.Raw[d.rawPos:]
	if len(r) < 4 {
		return nil, false
	}
	l := binary.LittleEndian.Uint32(r)
	if uint64(l) > uint64(len(r)-4) {
		return nil, false
	}
	d.rawPos += 4 + int(l)
	return r[4 : 4+l], true
}

// jsonLeaves collects the values of t's JSON data in d.cells: a flat list
// of n values, or lists nested exactly like its shape.
func (d *scratch) jsonLeaves(f *field, t *Tensor, n int) error {
	v := t.json
	if v.Type() != fastjson.TypeArray {
		return badRequest(`%s: "data" must be a list; got %s`, inputLabel(f, d.plan), describe(v))
	}
	d.cells = d.cells[:0]
	a := v.GetArray()
	flat := len(a) == 0 || a[0].Type() != fastjson.TypeArray
	if flat {
		if len(a) != n {
			return invalidParam("%s has shape %s, %d values, but its data holds %d", inputLabel(f, d.plan), shapeString(t.Shape), n, len(a))
		}
		d.cells = append(d.cells, a...)
		return nil
	}
	if err := d.nestedLeaves(f, t, v, 0); err != nil {
		return err
	}
	if len(d.cells) != n {
		return invalidParam("%s has shape %s, %d values, but its data holds %d", inputLabel(f, d.plan), shapeString(t.Shape), n, len(d.cells))
	}
	return nil
}

// nestedLeaves appends the leaves of v, nested like t's shape from depth
// on, to d.cells.
func (d *scratch) nestedLeaves(f *field, t *Tensor, v *fastjson.Value, depth int) error {
	if depth == len(t.Shape) {
		if v.Type() == fastjson.TypeArray {
			return invalidParam("%s: its data is nested deeper than its shape %s", inputLabel(f, d.plan), shapeString(t.Shape))
		}
		d.cells = append(d.cells, v)
		return nil
	}
	a := v.GetArray()
	if v.Type() != fastjson.TypeArray || int64(len(a)) != t.Shape[depth] {
		return invalidParam("%s: its data is not nested like its shape %s: expected a list of %d items at depth %d, got %s",
			inputLabel(f, d.plan), shapeString(t.Shape), t.Shape[depth], depth, describe(v))
	}
	for _, e := range a {
		if err := d.nestedLeaves(f, t, e, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// littleEndian reports whether the host stores numbers as the protocol's
// binary layout does, so that raw data of the feed's own type is copied
// as bytes.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// copyExact copies n values of t into feed in one move when t's datatype is
// the feed's element type, and reports whether it did.
func (d *scratch) copyExact(t *Tensor, feed *Feed, n int) bool {
	if t.json != nil || n == 0 {
		return false
	}
	switch {
	case t.Datatype == DatatypeFP32 && feed.DType == Float32:
		if t.HasRaw {
			return littleEndian && copy(asBytes(feed.F32), t.Raw) == len(t.Raw)
		}
		copy(feed.F32, t.FP32)
	case t.Datatype == DatatypeFP64 && feed.DType == Float64:
		if t.HasRaw {
			return littleEndian && copy(asBytes(feed.F64), t.Raw) == len(t.Raw)
		}
		copy(feed.F64, t.FP64)
	case t.Datatype == DatatypeInt32 && feed.DType == Int32:
		if t.HasRaw {
			return littleEndian && copy(asBytes(feed.I32), t.Raw) == len(t.Raw)
		}
		copy(feed.I32, t.Int)
	case t.Datatype == DatatypeInt64 && feed.DType == Int64:
		if t.HasRaw {
			return littleEndian && copy(asBytes(feed.I64), t.Raw) == len(t.Raw)
		}
		copy(feed.I64, t.Int64)
	case t.Datatype == DatatypeBool && feed.DType == Bool && !t.HasRaw:
		copy(feed.B, t.Bool)
	default:
		return false
	}
	return true
}

func asBytes[T float32 | float64 | int32 | int64](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
}

// putElem converts value i of t for field f and stores it at feed element
// idx (feed nil: only checks it).
func (d *scratch) putElem(f *field, t *Tensor, i int, feed *Feed, idx int) error {
	switch f.src {
	case Bool:
		v, err := d.boolAt(f, t, i)
		if err != nil {
			return err
		}
		if feed != nil {
			feed.B[idx] = v
		}
	case Int32, Int64:
		v, err := d.intAt(f, t, i)
		if err != nil {
			return err
		}
		if feed != nil {
			storeInt(feed, idx, v)
		}
	case Float32, Float64:
		x, err := d.floatAt(f, t, i)
		if err != nil {
			return err
		}
		if f.src == Float32 {
			x = float64(float32(x))
		}
		if feed != nil {
			storeFloat(feed, idx, x)
		}
	default: // String, and datetime columns that are only checked
		s, err := d.bytesAt(f, t, i)
		if err != nil {
			return err
		}
		if feed != nil {
			start := len(d.text)
			d.text = append(d.text, s...)
			feed.S[idx] = b2s(d.text[start:])
		}
	}
	return nil
}

// at locates value i of t for messages.
func at(t *Tensor, i int) loc { return loc{shape: t.Shape, flat: i} }

func (d *scratch) elemError(f *field, t *Tensor, i int, want string, v *fastjson.Value) error {
	return badRequest("%s (%s)%s: expected %s, got %s", inputLabel(f, d.plan), t.Datatype, at(t, i), want, describe(v))
}

func (d *scratch) boolAt(f *field, t *Tensor, i int) (bool, error) {
	switch {
	case t.json != nil:
		v := d.cells[i]
		switch v.Type() {
		case fastjson.TypeTrue:
			return true, nil
		case fastjson.TypeFalse:
			return false, nil
		}
		return false, d.elemError(f, t, i, "true or false", v)
	case t.HasRaw:
		return t.Raw[i] != 0, nil
	}
	return t.Bool[i], nil
}

// intAt reads integer value i of t (an integer datatype that fits int64).
func (d *scratch) intAt(f *field, t *Tensor, i int) (int64, error) {
	dt := t.Datatype
	if t.json != nil {
		v := d.cells[i]
		n, ok := d.jsonTypedInt(v, dt)
		if !ok {
			return 0, d.elemError(f, t, i, "an integer within "+dt.String()+"'s range", v)
		}
		return n, nil
	}
	if t.HasRaw {
		return rawInt(t.Raw, dt, i), nil
	}
	switch dt {
	case DatatypeInt8, DatatypeInt16, DatatypeInt32:
		n := int64(t.Int[i])
		if !intFits(n, int8Or16(dt)) {
			return 0, badRequest("%s (%s)%s: %d is out of %s's range", inputLabel(f, d.plan), dt, at(t, i), n, dt)
		}
		return n, nil
	case DatatypeInt64:
		return t.Int64[i], nil
	case DatatypeUint8, DatatypeUint16, DatatypeUint32:
		n := int64(t.Uint[i])
		if !intFits(n, int8Or16(dt)) {
			return 0, badRequest("%s (%s)%s: %d is out of %s's range", inputLabel(f, d.plan), dt, at(t, i), n, dt)
		}
		return n, nil
	}
	return 0, badRequest("%s: %s values are not integers", inputLabel(f, d.plan), dt)
}

// int8Or16 maps a datatype to the element type whose range bounds it.
func int8Or16(dt Datatype) DType {
	switch dt {
	case DatatypeInt8:
		return Int8
	case DatatypeInt16:
		return Int16
	case DatatypeInt32:
		return Int32
	case DatatypeUint8:
		return Uint8
	case DatatypeUint16:
		return Uint16
	case DatatypeUint32:
		return Uint32
	case DatatypeUint64:
		return Uint64
	}
	return Int64
}

// rawInt reads integer value i of raw little-endian data of type dt.
func rawInt(r []byte, dt Datatype, i int) int64 {
	switch dt {
	case DatatypeInt8:
		return int64(int8(r[i]))
	case DatatypeInt16:
		return int64(int16(binary.LittleEndian.Uint16(r[2*i:])))
	case DatatypeInt32:
		return int64(int32(binary.LittleEndian.Uint32(r[4*i:])))
	case DatatypeInt64:
		return int64(binary.LittleEndian.Uint64(r[8*i:]))
	case DatatypeUint8:
		return int64(r[i])
	case DatatypeUint16:
		return int64(binary.LittleEndian.Uint16(r[2*i:]))
	case DatatypeUint32:
		return int64(binary.LittleEndian.Uint32(r[4*i:]))
	}
	return 0
}

// floatAt reads value i of t as a float64: any numeric datatype.
func (d *scratch) floatAt(f *field, t *Tensor, i int) (float64, error) {
	dt := t.Datatype
	if t.json != nil {
		v := d.cells[i]
		if dt == DatatypeFP16 || dt == DatatypeFP32 || dt == DatatypeFP64 {
			if v.Type() != fastjson.TypeNumber {
				return 0, d.elemError(f, t, i, "a number", v)
			}
			x, _ := strconv.ParseFloat(d.numText(v), 64)
			return x, nil
		}
		if dt == DatatypeUint64 {
			u, ok := d.jsonUint64(v)
			if !ok {
				return 0, d.elemError(f, t, i, "an integer within UINT64's range", v)
			}
			return float64(u), nil
		}
		n, ok := d.jsonTypedInt(v, dt)
		if !ok {
			return 0, d.elemError(f, t, i, "an integer within "+dt.String()+"'s range", v)
		}
		return float64(n), nil
	}
	if t.HasRaw {
		r := t.Raw
		switch dt {
		case DatatypeFP16:
			return float64(halfToFloat32(binary.LittleEndian.Uint16(r[2*i:]))), nil
		case DatatypeFP32:
			return float64(math.Float32frombits(binary.LittleEndian.Uint32(r[4*i:]))), nil
		case DatatypeFP64:
			return math.Float64frombits(binary.LittleEndian.Uint64(r[8*i:])), nil
		case DatatypeUint64:
			return float64(binary.LittleEndian.Uint64(r[8*i:])), nil
		}
		return float64(rawInt(r, dt, i)), nil
	}
	switch dt {
	case DatatypeFP32:
		return float64(t.FP32[i]), nil
	case DatatypeFP64:
		return t.FP64[i], nil
	case DatatypeUint64:
		return float64(t.Uint64[i]), nil
	case DatatypeFP16:
		return 0, badRequest("%s: FP16 data must be sent as raw_input_contents", inputLabel(f, d.plan))
	}
	n, err := d.intAt(f, t, i)
	return float64(n), err
}

// bytesAt returns BYTES value i of t; raw elements are read in order.
func (d *scratch) bytesAt(f *field, t *Tensor, i int) ([]byte, error) {
	switch {
	case t.json != nil:
		v := d.cells[i]
		if v.Type() != fastjson.TypeString {
			return nil, d.elemError(f, t, i, "a string", v)
		}
		return v.GetStringBytes(), nil
	case t.HasRaw:
		s, ok := d.nextRawBytes(t)
		if !ok {
			return nil, d.rawBytesError(f, t, i+1)
		}
		return s, nil
	}
	return t.Bytes[i], nil
}

// jsonTypedInt reads a JSON integer within the range of integer datatype
// dt (UINT64 values that fit int64).
func (d *scratch) jsonTypedInt(v *fastjson.Value, dt Datatype) (int64, bool) {
	if v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	text := d.numText(v)
	if !isIntLiteral(text) {
		return 0, false
	}
	n, err := strconv.ParseInt(text, 10, 64)
	return n, err == nil && intFits(n, int8Or16(dt))
}

// jsonUint64 reads a JSON integer within UINT64's range.
func (d *scratch) jsonUint64(v *fastjson.Value) (uint64, bool) {
	if v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	text := d.numText(v)
	if !isIntLiteral(text) || strings.HasPrefix(text, "-") {
		return 0, false
	}
	u := uint64(0)
	for _, c := range []byte(text) {
		if u > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	return u, len(text) > 0
}

// halfToFloat32 converts an IEEE 754 half-precision value.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp == 0:
		if frac == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: normalise.
		e := uint32(127 - 15 + 1)
		for frac&0x400 == 0 {
			frac <<= 1
			e--
		}
		frac &= 0x3ff
		return math.Float32frombits(sign | e<<23 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}
