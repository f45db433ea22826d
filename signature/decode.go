package signature

import (
	"context"
	"fmt"
	"strconv"
	"unsafe"

	"github.com/valyala/fastjson"
)

// Decode decodes body, a request in format f, into b, which must come from
// p.GetBatch, within the plan's default limits; it is DecodeLimited with
// no deadline and zero Limits.
func (p *Plan) Decode(f Format, body []byte, b *Batch) error {
	return p.DecodeLimited(context.Background(), f, body, b, Limits{})
}

// DecodeLimited decodes body, a request in format f, into b, which must
// come from p.GetBatch. On success b.Feeds holds one feed per graph input
// with its values converted to the input's element type, b.Rows the number
// of rows and b.Records how predictions are to be shaped.
//
// Client mistakes are returned as *Error, with MLflow's error code for the
// same mistake. A request over lim (zero fields: Plan.Limits) is refused
// with an *Error whose Limit names the limit; the first, allocation-free
// pass over the body finds it, before anything is allocated for the
// request. ctx is looked at when decoding starts and then every few
// thousand values; once it has ended, DecodeLimited returns its error,
// wrapped. b may be partly filled after an error; it must still be
// returned with PutBatch. The feeds' string values alias b's memory and
// body is not retained: body may be reused as soon as DecodeLimited
// returns.
//
// Decoding a JSON request allocates nothing once b's buffers have grown to
// the request's size, except for values that must be copied: strings with
// escapes and binary columns. CSV requests reuse b's buffers the same way.
// Its time is linear in the size of the body and of the feeds.
func (p *Plan) DecodeLimited(ctx context.Context, f Format, body []byte, b *Batch, lim Limits) error {
	return p.decode(ctx, f, body, b, p.Limits(lim), nil)
}

// DecodeMeasured is DecodeLimited for a body that Measure has measured as
// c: it decodes within the limits Measure was given and skips the first
// pass over the body. body must be the bytes Measure was given,
// unchanged; for another slice, or a Cost from another plan, it measures
// the body again.
func (p *Plan) DecodeMeasured(ctx context.Context, body []byte, c Cost, b *Batch) error {
	if !c.measures(p, body) {
		if c.Format != FormatInfer {
			return p.decode(ctx, c.Format, body, b, p.Limits(c.lim), nil)
		}
		m, err := p.MeasureInfer(body, c.header, c.lim)
		if err != nil {
			return err
		}
		c = m
	}
	return p.decode(ctx, c.Format, body, b, c.lim, &c)
}

// decode decodes body within lim, which is resolved; c, when not nil, is
// the body's measure.
func (p *Plan) decode(ctx context.Context, f Format, body []byte, b *Batch, lim Limits, c *Cost) error {
	if b == nil || b.scratch == nil || b.scratch.plan != p {
		panic("signature: Decode with a Batch that Plan.GetBatch did not return")
	}
	if err := ctx.Err(); err != nil {
		return deadline(err)
	}
	b.reset()
	d := b.scratch
	d.begin()
	d.ctx, d.lim, d.known = ctx, lim, c != nil
	if c != nil {
		d.measured = *c
	}
	var err error
	switch f {
	case FormatJSON:
		err = d.decodeJSON(body, b)
	case FormatCSV:
		err = d.decodeCSV(body, b)
	case FormatInfer:
		if !d.known {
			d.measured, err = measureInfer(body, -1, lim, ctx)
		}
		if err == nil {
			err = d.decodeInfer(body, b)
		}
	default:
		err = badRequest("unsupported request format %d", f)
	}
	if err == nil {
		err = d.finish(b)
	}
	d.ctx, d.measured, d.known = nil, Cost{}, false
	return err
}

// Measure checks body, a request in format f, against lim (zero fields:
// Plan.Limits) and the request grammar, and returns what decoding it asks
// for, without decoding it: one pass over the body that allocates nothing
// unless the body is refused. Errors are those DecodeLimited would return
// for the same body's size, nesting, grammar (JSON) and limits; a body
// Measure accepts may still be refused by DecodeLimited for its content.
// DecodeMeasured decodes a measured body without this pass.
func (p *Plan) Measure(f Format, body []byte, lim Limits) (Cost, error) {
	lim = p.Limits(lim)
	var c Cost
	var err error
	switch f {
	case FormatJSON:
		c, err = measureJSON(body, lim, nil)
	case FormatCSV:
		c, err = scanCSV(body, lim, nil)
	case FormatInfer:
		c, err = measureInfer(body, -1, lim, nil)
	default:
		return Cost{}, badRequest("unsupported request format %d", f)
	}
	c.plan, c.lim, c.body = p, lim, uintptr(unsafe.Pointer(unsafe.SliceData(body)))
	return c, err
}

// measureJSON counts a JSON request within lim, looking at ctx (when not
// nil) now and then.
func measureJSON(body []byte, lim Limits, ctx context.Context) (Cost, error) {
	if len(trimSpace(b2s(body))) == 0 {
		return Cost{}, errEmptyJSON()
	}
	s := requestScanner(body, lim, ctx)
	err := s.run()
	return Cost{Format: FormatJSON, Bytes: len(body), Rows: s.rows, Elements: s.elements, Values: s.values, inf: s.inf}, err
}

// requestScanner returns a scanner that counts a request's rows, elements
// and values within lim.
func requestScanner(body []byte, lim Limits, ctx context.Context) jsonScanner {
	return jsonScanner{b: body, maxDepth: MaxRequestDepth, counting: true, lim: lim, maxValues: valueBudget(lim), ctx: ctx}
}

// deadline wraps the error of a request's context that ended while it was
// being decoded.
func deadline(err error) error {
	return fmt.Errorf("decoding the request: %w", err)
}

// limitError refuses a request over one of its limits.
func limitError(limit, format string, args ...any) *Error {
	return &Error{Code: CodeBadRequest, Message: fmt.Sprintf(format, args...), Limit: limit}
}

// pollCells is how many values the decoder converts between two looks at
// the request's context.
const pollCells = 1 << 12

// tick counts one converted value and, every pollCells of them, returns the
// request context's error.
func (d *scratch) tick() error {
	d.ticks++
	if d.ticks%pollCells != 0 || d.ctx == nil {
		return nil
	}
	if err := d.ctx.Err(); err != nil {
		return deadline(err)
	}
	return nil
}

// fits checks that a table or feed of rows × perRow values is within the
// request's max_elements.
func (d *scratch) fits(rows, perRow int) error {
	if rows > 0 && perRow > d.lim.MaxElements/rows {
		return limitError("max_elements", "%s: %d rows of %d values each make %d values, more than %d (max_elements)",
			d.format, rows, perRow, rows*perRow, d.lim.MaxElements)
	}
	return nil
}

// spend takes n values from what the body holds, for a tensor whose shape
// was inferred from its first items; more than the body holds means the
// nesting is ragged, and nothing is allocated for it.
func (d *scratch) spend(f *field, shape []int64, n int) error {
	if n > d.budget {
		return invalidParam("%s is a ragged nested list: shape %s, inferred from its first items, needs %d values, but the request holds %d",
			f.label(), shapeString(shape), n, d.budget)
	}
	d.budget -= n
	return nil
}

func (d *scratch) begin() {
	d.rows, d.nslots, d.ticks, d.budget = 0, 0, 0, 0
	clear(d.keys)
	d.keys = d.keys[:0]
	clear(d.keyMap)
	d.spans = d.spans[:0]
	d.text = d.text[:0]
	d.format = ""
	d.csv, d.df, d.strict = false, false, false
	for i := range d.slot {
		d.slot[i] = -1
	}
}

// setTable sizes the cell table and clears it.
func (d *scratch) setTable(rows, nslots int) error {
	if err := d.fits(rows, nslots); err != nil {
		return err
	}
	d.rows, d.nslots = rows, nslots
	d.cells = grow(d.cells, rows*nslots)
	clear(d.cells)
	d.maxRows = max(d.maxRows, rows)
	return nil
}

// mapSlots maps fields to the table's columns: by name for named schemas,
// by position for unnamed column schemas.
func (d *scratch) mapSlots() error {
	p := d.plan
	if !p.named || d.packedTensor() {
		for i := range d.slot {
			if i < d.nslots {
				d.slot[i] = i
			}
		}
		return nil
	}
	for c, name := range d.keys {
		fi, ok := p.index[name]
		if !ok {
			continue
		}
		if d.slot[fi] >= 0 {
			return badRequest("%s: column %s appears more than once", d.format, quote(name))
		}
		d.slot[fi] = c
	}
	return nil
}

// packedTensor reports whether the request's columns together form the one
// tensor the model takes: an unnamed tensor signature, or a graph without a
// signature that has a single input and got a DataFrame.
func (d *scratch) packedTensor() bool {
	p := d.plan
	return p.mode == modeTensors && !p.named || p.mode == modeGraph && len(p.inputs) == 1 && d.df
}

// fillTable converts the cell table into the feeds.
func (d *scratch) fillTable(b *Batch) error {
	if d.rows == 0 {
		return errNoRows(d.format)
	}
	if d.plan.mode == modeColumns {
		return d.fillColumns(b)
	}
	if d.packedTensor() {
		return d.fillPacked(b)
	}
	if err := d.checkMissing(); err != nil {
		return err
	}
	for fi := range d.plan.fields {
		if err := d.fillStacked(b, fi, d.slot[fi]); err != nil {
			return err
		}
	}
	return nil
}

func errNoRows(format string) error {
	return badRequest("%s: the request has no rows", format)
}

// checkMissing reports required fields the request lacks.
func (d *scratch) checkMissing() error {
	p := d.plan
	if !p.named {
		if d.nslots < len(p.fields) {
			return invalidParam("the signature has %d unnamed columns, but the request has %d; unnamed columns are matched by position", len(p.fields), d.nslots)
		}
		return nil
	}
	var missing []string
	for fi := range p.fields {
		if d.slot[fi] < 0 && p.fields[fi].required {
			missing = append(missing, p.fields[fi].name)
		}
	}
	if missing == nil {
		return nil
	}
	what := "column"
	if p.mode != modeColumns {
		what = "input"
	}
	if len(missing) > 1 {
		what += "s"
	}
	msg := "the request is missing required " + what + " " + nameList(missing)
	if extra := d.extraNames(); len(extra) > 0 {
		msg += "; it has " + nameList(extra) + ", which the model does not take"
	}
	all := make([]string, len(p.fields))
	for fi := range p.fields {
		all[fi] = p.fields[fi].name
	}
	kind := "columns"
	if p.mode != modeColumns {
		kind = "inputs"
	}
	msg += " (the signature's " + kind + ": " + nameList(all) + ")"
	return invalidParam("%s", msg)
}

// fillColumns converts the table for a column-based signature.
func (d *scratch) fillColumns(b *Batch) error {
	p := d.plan
	if err := d.checkMissing(); err != nil {
		return err
	}
	rows := d.rows
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
	for fi := range p.fields {
		f := &p.fields[fi]
		s := d.slot[fi]
		if s < 0 {
			if f.feed >= 0 {
				return invalidParam("the request lacks column %s, which the signature marks optional but the model graph needs as input %s; send it", quote(f.name), quote(p.inputs[f.feed].Name))
			}
			continue
		}
		var feed *Feed
		if f.feed >= 0 {
			feed = &b.Feeds[f.feed]
		}
		for r := range rows {
			if err := d.put(f, r, s, feed, r*stride+f.offset, rowLoc(r)); err != nil {
				return err
			}
		}
	}
	return nil
}

// put converts the cell at row r, slot s.
func (d *scratch) put(f *field, r, s int, feed *Feed, idx int, at loc) error {
	if err := d.tick(); err != nil {
		return err
	}
	if d.csv {
		return d.putText(f, d.spanText(d.spans[r*d.nslots+s]), feed, idx, at)
	}
	return d.putJSON(f, d.cells[r*d.nslots+s], feed, idx, at)
}

// fillPacked converts a table whose columns together form the single input
// tensor: (rows, ncols) for several columns, or one column stacked as in
// fillStacked.
func (d *scratch) fillPacked(b *Batch) error {
	if d.nslots == 0 {
		return badRequest("%s: the request has no columns", d.format)
	}
	if d.nslots == 1 {
		return d.fillStacked(b, 0, 0)
	}
	f := &d.plan.fields[0]
	feed := &b.Feeds[f.feed]
	if !d.csv {
		for c := range d.nslots {
			if v := d.cells[c]; v != nil && v.Type() == fastjson.TypeArray {
				return invalidParam("%s: column %s holds lists; when a request has several columns, each cell must be a single value", d.format, quote(d.slotName(c)))
			}
		}
	}
	d.shape = append(d.shape[:0], int64(d.rows), int64(d.nslots))
	if err := d.checkShape(f, d.shape); err != nil {
		return err
	}
	feed.Shape = append(feed.Shape[:0], d.shape...)
	feed.resize(d.rows * d.nslots)
	for r := range d.rows {
		for c := range d.nslots {
			if err := d.put(f, r, c, feed, r*d.nslots+c, rowLoc(r)); err != nil {
				return err
			}
		}
	}
	return nil
}

// fillStacked converts column s of the table into field fi's tensor: the
// cells stacked along a new leading dimension. Scalar cells make (rows,)
// or, for a (-1, 1) input, (rows, 1); list cells make (rows, ...), and a
// flat list cell may fill a tensor of several trailing dimensions, as
// MLflow reshapes DataFrame columns of lists.
func (d *scratch) fillStacked(b *Batch, fi, s int) error {
	f := &d.plan.fields[fi]
	feed := &b.Feeds[f.feed]
	rows := d.rows
	// d.flat is the shape every cell must have; d.shape the tensor's.
	d.flat = d.flat[:0]
	if !d.csv {
		d.flat = inferShape(d.cells[s], d.flat)
	}
	d.shape = append(d.shape[:0], int64(rows))
	switch {
	case len(d.flat) == 0 && len(f.shape) == 2 && f.shape[1] <= 1:
		d.shape = append(d.shape, 1)
	case len(d.flat) == 1 && len(f.shape) > 2 && fixedSize(f.shape[1:]) == d.flat[0]:
		// A flat list per row, reshaped to the tensor's trailing shape.
		d.shape = append(d.shape, f.shape[1:]...)
	default:
		d.shape = append(d.shape, d.flat...)
	}
	if err := d.checkShape(f, d.shape); err != nil {
		return err
	}
	size := 1
	for _, dim := range d.flat {
		size = min(size*int(dim), d.budget+1)
	}
	if err := d.spend(f, d.shape, min(rows*size, d.budget+1)); err != nil {
		// Name the first ragged row, as filling would have.
		for r := range rows {
			v := d.cells[r*d.nslots+s]
			cell := d.flat
			if len(d.shape)-1 != len(d.flat) && isNested(v) {
				cell = d.shape[1:]
			}
			if _, e := d.fillNested(f, v, cell, 0, nil, 0, r); e != nil {
				return e
			}
		}
		return err
	}
	feed.Shape = append(feed.Shape[:0], d.shape...)
	feed.resize(rows * size)
	for r := range rows {
		if err := d.tick(); err != nil {
			return err
		}
		if d.csv {
			if err := d.putText(f, d.spanText(d.spans[r*d.nslots+s]), feed, r, rowLoc(r)); err != nil {
				return err
			}
			continue
		}
		v := d.cells[r*d.nslots+s]
		cell := d.flat
		if len(d.shape)-1 != len(d.flat) && isNested(v) {
			// This row's cell is nested in the tensor's trailing shape
			// rather than flat.
			cell = d.shape[1:]
		}
		if _, err := d.fillNested(f, v, cell, 0, feed, r*size, r); err != nil {
			return err
		}
	}
	return nil
}

// isNested reports whether v is a list whose first item is a list.
func isNested(v *fastjson.Value) bool {
	a := v.GetArray()
	return len(a) > 0 && a[0].Type() == fastjson.TypeArray
}

// fixedSize returns the number of elements of shape, or -1 when a dimension
// is variable.
func fixedSize(shape []int64) int64 {
	n := int64(1)
	for _, dim := range shape {
		if dim < 0 {
			return -1
		}
		n *= dim
	}
	return n
}

// fillValues converts one value per field (d.vals) into the feeds.
func (d *scratch) fillValues(b *Batch) error {
	p := d.plan
	for fi := range p.fields {
		f := &p.fields[fi]
		v := d.vals[fi]
		if v == nil {
			return invalidParam("%s: the request has no %s", d.format, f.label())
		}
		feed := &b.Feeds[f.feed]
		d.shape = inferShape(v, d.shape[:0])
		if len(d.shape) > 0 && d.shape[0] == 0 {
			return errNoRows(d.format)
		}
		if err := d.checkShape(f, d.shape); err != nil {
			return err
		}
		n := 1
		for _, dim := range d.shape {
			n = min(n*int(dim), d.budget+1)
		}
		if err := d.spend(f, d.shape, n); err != nil {
			if _, e := d.fillNested(f, v, d.shape, 0, nil, 0, -1); e != nil {
				return e // the first ragged item, as filling would have named it
			}
			return err
		}
		if len(d.shape) > 0 {
			d.maxRows = max(d.maxRows, int(d.shape[0]))
		}
		feed.Shape = append(feed.Shape[:0], d.shape...)
		feed.resize(n)
		if _, err := d.fillNested(f, v, d.shape, 0, feed, 0, -1); err != nil {
			return err
		}
	}
	return nil
}

// inferShape appends the shape of nested list v to shape, following the
// first element at each level. A scalar adds nothing.
func inferShape(v *fastjson.Value, shape []int64) []int64 {
	for v != nil && v.Type() == fastjson.TypeArray {
		a := v.GetArray()
		shape = append(shape, int64(len(a)))
		if len(a) == 0 {
			break
		}
		v = a[0]
	}
	return shape
}

// fillNested stores the leaves of v, which must have exactly the given
// shape, at feed elements idx, idx+1, ... and returns the next index. row
// is the table row v came from, or -1. With a nil feed it only checks.
func (d *scratch) fillNested(f *field, v *fastjson.Value, shape []int64, depth int, feed *Feed, idx, row int) (int, error) {
	if depth == len(shape) {
		if v != nil && v.Type() == fastjson.TypeArray {
			return idx, d.raggedError(f, shape, depth, idx, row, v)
		}
		if err := d.tick(); err != nil {
			return idx, err
		}
		at := loc{row: row + 1}
		if row < 0 {
			at = loc{shape: shape, flat: idx}
		}
		return idx + 1, d.putJSON(f, v, feed, idx, at)
	}
	if v == nil || v.Type() != fastjson.TypeArray || int64(len(v.GetArray())) != shape[depth] {
		return idx, d.raggedError(f, shape, depth, idx, row, v)
	}
	var err error
	for _, e := range v.GetArray() {
		if idx, err = d.fillNested(f, e, shape, depth+1, feed, idx, row); err != nil {
			return idx, err
		}
	}
	return idx, nil
}

func (d *scratch) raggedError(f *field, shape []int64, depth, idx, row int, v *fastjson.Value) error {
	where := ""
	if row >= 0 {
		where = ", row " + strconv.Itoa(row)
	}
	if depth == len(shape) {
		return invalidParam("%s%s is a ragged nested list: expected a single value at depth %d, got %s", f.label(), where, depth, describe(v))
	}
	return invalidParam("%s%s is a ragged nested list: expected a list of %d items at depth %d, got %s", f.label(), where, shape[depth], depth, describe(v))
}

// checkShape checks a request tensor's shape against field f's.
func (d *scratch) checkShape(f *field, shape []int64) error {
	ok := len(shape) == len(f.shape)
	for k := 0; ok && k < len(shape); k++ {
		ok = f.shape[k] < 0 || f.shape[k] == shape[k]
	}
	if ok {
		return nil
	}
	return invalidParam("%s has shape %s, but the model expects %s", f.label(), shapeString(shape), shapeString(f.shape))
}

// finish checks the feeds against the graph's shapes and sets Rows and
// Records.
func (d *scratch) finish(b *Batch) error {
	p := d.plan
	rows, first := -1, 0
	for gi := range b.Feeds {
		in := &p.inputs[gi]
		fd := &b.Feeds[gi]
		ok := len(fd.Shape) == len(in.Shape)
		for k := 0; ok && k < len(in.Shape); k++ {
			ok = in.Shape[k] < 0 || in.Shape[k] == fd.Shape[k]
		}
		if !ok {
			return invalidParam("graph input %s gets shape %s from the request, but the model graph takes %s", quote(in.Name), shapeString(fd.Shape), shapeString(in.Shape))
		}
		if len(in.Shape) == 0 || in.Shape[0] >= 0 {
			continue
		}
		if rows < 0 {
			rows, first = int(fd.Shape[0]), gi
		} else if int(fd.Shape[0]) != rows {
			return invalidParam("the request's inputs disagree on the number of rows: %s has %d, %s has %d", quote(b.Feeds[first].Name), rows, quote(fd.Name), fd.Shape[0])
		}
	}
	if rows < 0 {
		rows = 1
		if len(b.Feeds[0].Shape) > 0 {
			rows = int(b.Feeds[0].Shape[0])
		}
	}
	if rows == 0 {
		return errNoRows(d.format)
	}
	if rows > d.lim.MaxRows {
		return limitError("max_rows", "%s: the request has %d rows, more than %d (max_rows)", d.format, rows, d.lim.MaxRows)
	}
	b.Rows = rows
	b.Records = p.mode == modeColumns || p.mode == modeGraph && d.df
	return nil
}
