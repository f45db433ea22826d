package signature

import (
	"strconv"

	"github.com/valyala/fastjson"
)

// The JSON request formats of MLflow's scoring protocol.
const (
	keySplit     = "dataframe_split"
	keyRecords   = "dataframe_records"
	keyInstances = "instances"
	keyInputs    = "inputs"
	keyParams    = "params"
)

const formatKeys = `"dataframe_split", "dataframe_records", "instances" or "inputs"`

// decodeJSON decodes an application/json body: an object with exactly one
// format key and optional "params". Other keys are ignored, as the scoring
// server ignores them.
func (d *scratch) decodeJSON(body []byte, b *Batch) error {
	var c Cost
	if d.known {
		c = d.measured
	} else {
		var err error
		if c, err = measureJSON(body, d.lim, d.ctx); err != nil {
			return err
		}
	}
	d.budget = c.Elements
	if c.inf {
		d.body = rewriteInfinity(d.body[:0], body)
		body = d.body
	}
	d.maxBody = max(d.maxBody, len(body))
	d.maxValues = max(d.maxValues, c.Values)
	reserveValues(&d.parser, c.Values)
	root, perr := d.parser.ParseBytes(body)
	if perr != nil {
		// The scanner accepts only what fastjson parses; this is a safety net.
		return badRequest("malformed JSON: %s", quoteRaw(perr.Error()))
	}
	if err := d.ctx.Err(); err != nil {
		return deadline(err)
	}
	d.root = root
	if root.Type() != fastjson.TypeObject {
		return badRequest("the request body must be a JSON object with exactly one of %s; got %s", formatKeys, kindOf(root))
	}
	var split, records, instances, inputs, params *fastjson.Value
	root.GetObject().Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case keySplit:
			split = v
		case keyRecords:
			records = v
		case keyInstances:
			instances = v
		case keyInputs:
			inputs = v
		case keyParams:
			params = v
		}
	})
	n := 0
	var data *fastjson.Value
	for _, c := range [...]struct {
		v   *fastjson.Value
		key string
	}{{split, keySplit}, {records, keyRecords}, {instances, keyInstances}, {inputs, keyInputs}} {
		if c.v != nil {
			n++
			data, d.format = c.v, c.key
		}
	}
	if n != 1 {
		return d.formatKeyError()
	}
	if params != nil && params.Type() != fastjson.TypeNull {
		if params.Type() != fastjson.TypeObject {
			return invalidParam("params must be a dictionary (a JSON object); got %s", kindOf(params))
		}
		if err := d.checkParams(params.GetObject()); err != nil {
			return err
		}
	}
	switch d.format {
	case keySplit:
		d.df = true
		return d.decodeSplit(data, b)
	case keyRecords:
		d.df = true
		return d.decodeRecords(data, b)
	case keyInstances:
		if a := data.GetArray(); len(a) > 0 && a[0].Type() == fastjson.TypeObject {
			d.strict = true
			return d.decodeRecords(data, b)
		}
		return d.decodeInputs(data, b)
	default:
		return d.decodeInputs(data, b)
	}
}

func errEmptyJSON() error {
	return badRequest("the request body is empty; expected a JSON object with one of %s", formatKeys)
}

func (d *scratch) formatKeyError() error {
	var got []string
	d.root.GetObject().Visit(func(k []byte, _ *fastjson.Value) {
		switch string(k) {
		case keySplit, keyRecords, keyInstances, keyInputs:
			got = append(got, string(k))
		}
	})
	if len(got) > 1 {
		return badRequest("the request body must have exactly one of %s; got %s", formatKeys, nameList(got))
	}
	var keys []string
	d.root.GetObject().Visit(func(k []byte, _ *fastjson.Value) {
		keys = append(keys, string(k))
	})
	if len(keys) == 0 {
		return badRequest("the request body must have exactly one of %s; got an empty object", formatKeys)
	}
	return badRequest("the request body must have exactly one of %s; got the keys %s", formatKeys, nameList(keys))
}

// decodeSplit decodes dataframe_split: {"columns": [...], "data": [[...]],
// "index": [...]}, a DataFrame whose rows are lists of one value per column.
func (d *scratch) decodeSplit(v *fastjson.Value, b *Batch) error {
	if v.Type() != fastjson.TypeObject {
		return badRequest(`dataframe_split must be an object with "data" and optionally "columns" and "index"; got %s`, kindOf(v))
	}
	var cols, data, index *fastjson.Value
	var extra bool
	v.GetObject().Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "columns":
			cols = v
		case "data":
			data = v
		case "index":
			index = v
		default:
			extra = true
		}
	})
	if extra {
		var name string
		v.GetObject().Visit(func(k []byte, _ *fastjson.Value) {
			if s := string(k); name == "" && s != "columns" && s != "data" && s != "index" {
				name = s
			}
		})
		return badRequest(`dataframe_split has the key %s; it allows only "columns", "data" and "index"`, quote(name))
	}
	if data == nil {
		return badRequest(`dataframe_split has no "data"`)
	}
	if data.Type() != fastjson.TypeArray {
		return badRequest(`dataframe_split.data must be a list of rows; got %s`, kindOf(data))
	}
	rows := data.GetArray()
	if len(rows) == 0 {
		return errNoRows(d.format)
	}
	ncols := -1
	if cols != nil && cols.Type() != fastjson.TypeNull {
		names := cols.GetArray()
		if cols.Type() != fastjson.TypeArray {
			return badRequest(`dataframe_split.columns must be a list of column names; got %s`, kindOf(cols))
		}
		ncols = len(names)
		for _, c := range names {
			switch c.Type() {
			case fastjson.TypeString:
				d.keys = append(d.keys, b2s(c.GetStringBytes()))
			case fastjson.TypeNumber:
				// pandas allows numbers as names; they match no signature name.
				d.keys = append(d.keys, "")
			default:
				return badRequest(`dataframe_split.columns must hold column names; got %s`, kindOf(c))
			}
		}
	}
	if ncols < 0 {
		ncols = 1
		if a := rows[0]; a.Type() == fastjson.TypeArray {
			ncols = len(a.GetArray())
		}
	}
	if err := d.setTable(len(rows), ncols); err != nil {
		return err
	}
	for r, row := range rows {
		if row.Type() != fastjson.TypeArray {
			if ncols != 1 {
				return badRequest("dataframe_split.data[%d] is %s; each row must be a list of %d values, one per column", r, kindOf(row), ncols)
			}
			d.cells[r] = row
			continue
		}
		a := row.GetArray()
		if len(a) != ncols {
			return badRequest("dataframe_split.data[%d] has %d values, but the request has %d columns; every row needs one value per column", r, len(a), ncols)
		}
		copy(d.cells[r*ncols:], a)
	}
	if index != nil && index.Type() != fastjson.TypeNull {
		if index.Type() != fastjson.TypeArray {
			return badRequest("dataframe_split.index must be a list; got %s", kindOf(index))
		}
		if n := len(index.GetArray()); n != len(rows) {
			return badRequest("dataframe_split.index has %d entries, but data has %d rows", n, len(rows))
		}
	}
	if err := d.mapSlots(); err != nil {
		return err
	}
	return d.fillTable(b)
}

// decodeRecords decodes a list of records, each an object mapping column
// names to values: dataframe_records, and "inputs" or "instances" given as
// records. A DataFrame treats a key missing from some records as null;
// "instances" (d.strict) requires every record to have the same keys.
func (d *scratch) decodeRecords(v *fastjson.Value, b *Batch) error {
	if v.Type() != fastjson.TypeArray {
		return badRequest("%s must be a list of records (objects mapping column names to values); got %s", d.format, kindOf(v))
	}
	recs := v.GetArray()
	if len(recs) == 0 {
		return errNoRows(d.format)
	}
	for r, rec := range recs {
		if rec.Type() != fastjson.TypeObject {
			return badRequest("%s[%d] is %s; each record must be an object mapping column names to values", d.format, r, kindOf(rec))
		}
	}
	p := d.plan
	if !d.df && p.mode == modeTensors && !p.named {
		return invalidParam("%s: the model takes one unnamed tensor; send a (nested) list of rows, not records", d.format)
	}
	byName := p.named && !d.packedTensor()
	if !byName {
		// Columns in order of first appearance, as pandas builds them.
		for _, rec := range recs {
			rec.GetObject().Visit(func(k []byte, _ *fastjson.Value) {
				if d.keyIndex(k) < 0 {
					d.addKey(k)
				}
			})
		}
		if err := d.setTable(len(recs), len(d.keys)); err != nil {
			return err
		}
		for r, rec := range recs {
			rec.GetObject().Visit(func(k []byte, v *fastjson.Value) {
				d.cells[r*d.nslots+d.keyIndex(k)] = v
			})
		}
		if err := d.mapSlots(); err != nil {
			return err
		}
		return d.fillTable(b)
	}
	nf := len(p.fields)
	if err := d.setTable(len(recs), nf); err != nil {
		return err
	}
	for r, rec := range recs {
		rec.GetObject().Visit(func(k []byte, v *fastjson.Value) {
			if fi, ok := p.index[b2s(k)]; ok {
				d.cells[r*nf+fi] = v
			}
		})
	}
	for fi := range p.fields {
		missingAt := -1
		for r := range recs {
			if d.cells[r*nf+fi] != nil {
				d.slot[fi] = fi
			} else if missingAt < 0 {
				missingAt = r
			}
		}
		if d.strict && d.slot[fi] >= 0 && missingAt >= 0 {
			return badRequest("%s[%d] has no %s, but other records have it; every record must have the same keys", d.format, missingAt, quote(p.fields[fi].name))
		}
	}
	return d.fillTable(b)
}

// Records discover their columns by name. Up to linearKeys names are
// searched linearly; beyond that they are indexed in d.keyMap, so that
// records with many keys cost linear, not quadratic, time.
const linearKeys = 16

// keyIndex returns the index of k in d.keys, or -1.
func (d *scratch) keyIndex(k []byte) int {
	if len(d.keys) > linearKeys {
		if i, ok := d.keyMap[b2s(k)]; ok {
			return i
		}
		return -1
	}
	for i, key := range d.keys {
		if key == string(k) {
			return i
		}
	}
	return -1
}

// addKey appends k to d.keys.
func (d *scratch) addKey(k []byte) {
	d.keys = append(d.keys, b2s(k))
	switch n := len(d.keys); {
	case n == linearKeys+1:
		if d.keyMap == nil {
			d.keyMap = make(map[string]int)
		}
		for i, key := range d.keys {
			d.keyMap[key] = i
		}
	case n > linearKeys+1:
		d.keyMap[d.keys[n-1]] = n - 1
	}
}

// decodeInputs decodes "inputs" (and "instances" that are not records): an
// object mapping names to values, a list, or a single value.
func (d *scratch) decodeInputs(v *fastjson.Value, b *Batch) error {
	p := d.plan
	if a := v.GetArray(); len(a) > 0 && a[0].Type() == fastjson.TypeObject {
		return d.decodeRecords(v, b)
	}
	isObj := v.Type() == fastjson.TypeObject
	if p.mode != modeColumns {
		switch {
		case isObj && !p.named:
			return badRequest("%s: the model takes one unnamed tensor; send a (nested) list, not an object", d.format)
		case isObj:
			v.GetObject().Visit(func(k []byte, v *fastjson.Value) {
				if fi, ok := p.index[b2s(k)]; ok {
					d.vals[fi] = v
				}
			})
			for fi := range p.fields {
				if d.vals[fi] == nil {
					return d.missingValues()
				}
			}
		case len(p.fields) == 1:
			d.vals[0] = v
		default:
			return invalidParam("%s: the model takes the named inputs %s; send an object mapping each name to its values", d.format, p.fieldNames())
		}
		return d.fillValues(b)
	}
	// A column-based signature: build the DataFrame the scoring server would.
	switch {
	case isObj && !p.named:
		return badRequest("%s: the signature's columns are unnamed; send a list of rows, not an object", d.format)
	case isObj:
		return d.decodeColumnsObject(v, b)
	case v.Type() == fastjson.TypeArray && p.named && len(p.fields) == 1:
		// A single-column signature takes a plain list as that column.
		return d.decodeColumnList(v, b)
	case v.Type() == fastjson.TypeArray && p.named:
		return invalidParam("%s: the signature names its columns (%s); send an object mapping each name to its values, or a list of records", d.format, p.fieldNames())
	case v.Type() == fastjson.TypeArray:
		return d.decodeRows(v, b)
	case len(p.fields) == 1:
		if err := d.setTable(1, 1); err != nil {
			return err
		}
		d.cells[0] = v
		d.slot[0] = 0
		return d.fillTable(b)
	default:
		return invalidParam("%s: the signature has %d columns, but the request is a single value", d.format, len(p.fields))
	}
}

// missingValues reports the named inputs an "inputs" object lacks.
func (d *scratch) missingValues() error {
	for fi := range d.vals {
		if d.vals[fi] != nil {
			d.slot[fi] = fi
		}
	}
	return d.checkMissing()
}

// decodeColumnsObject decodes {"col": [values...], ...} for a named column
// signature. Scalars are broadcast to the other columns' length, as pandas
// does; with only scalars, or when the signature has array or object
// columns, the object is one record.
func (d *scratch) decodeColumnsObject(v *fastjson.Value, b *Batch) error {
	p := d.plan
	v.GetObject().Visit(func(k []byte, v *fastjson.Value) {
		if fi, ok := p.index[b2s(k)]; ok {
			d.vals[fi] = v
		}
	})
	rows, first := -1, -1
	if !p.hasComplex {
		for fi, v := range d.vals {
			if v == nil || v.Type() != fastjson.TypeArray {
				continue
			}
			if n := len(v.GetArray()); rows < 0 {
				rows, first = n, fi
			} else if n != rows {
				return invalidParam("%s: column %s has %d values, but column %s has %d; every column needs one value per row", d.format, quote(p.fields[first].name), rows, quote(p.fields[fi].name), n)
			}
		}
	}
	single := rows < 0
	if single {
		rows = 1
	}
	nf := len(p.fields)
	if err := d.setTable(rows, nf); err != nil {
		return err
	}
	for fi, v := range d.vals {
		if v == nil {
			continue
		}
		d.slot[fi] = fi
		if single || v.Type() != fastjson.TypeArray {
			for r := range rows {
				d.cells[r*nf+fi] = v
			}
			continue
		}
		for r, e := range v.GetArray() {
			d.cells[r*nf+fi] = e
		}
	}
	return d.fillTable(b)
}

// decodeColumnList decodes a plain list as the values of the signature's
// only column.
func (d *scratch) decodeColumnList(v *fastjson.Value, b *Batch) error {
	a := v.GetArray()
	if err := d.setTable(len(a), 1); err != nil {
		return err
	}
	copy(d.cells, a)
	d.slot[0] = 0
	return d.fillTable(b)
}

// decodeRows decodes a list of rows (lists of values by position) for an
// unnamed column signature; a list of scalars is one column.
func (d *scratch) decodeRows(v *fastjson.Value, b *Batch) error {
	rows := v.GetArray()
	if len(rows) == 0 {
		return errNoRows(d.format)
	}
	ncols := 1
	if rows[0].Type() == fastjson.TypeArray {
		ncols = len(rows[0].GetArray())
	}
	if err := d.setTable(len(rows), ncols); err != nil {
		return err
	}
	for r, row := range rows {
		if row.Type() != fastjson.TypeArray {
			if ncols != 1 {
				return badRequest("%s[%d] is %s, but row 0 is a list of %d values; every row needs one value per column", d.format, r, kindOf(row), ncols)
			}
			d.cells[r] = row
			continue
		}
		a := row.GetArray()
		if len(a) != ncols {
			return badRequest("%s[%d] has %d values, but row 0 has %d; every row needs one value per column", d.format, r, len(a), ncols)
		}
		copy(d.cells[r*ncols:], a)
	}
	if err := d.mapSlots(); err != nil {
		return err
	}
	return d.fillTable(b)
}

// slotName names table column c for messages.
func (d *scratch) slotName(c int) string {
	if c < len(d.keys) && d.keys[c] != "" {
		return d.keys[c]
	}
	return "#" + strconv.Itoa(c)
}

// extraNames lists the request's column or input names that the signature
// does not have. It is called only to explain an error.
func (d *scratch) extraNames() []string {
	p := d.plan
	var extra []string
	seen := map[string]struct{}{}
	add := func(k string) {
		if _, ok := p.index[k]; ok || k == "" {
			return
		}
		if _, ok := seen[k]; ok {
			return
		}
		seen[k] = struct{}{}
		extra = append(extra, k)
	}
	switch {
	case len(d.keys) > 0:
		for _, k := range d.keys {
			add(k)
		}
	case d.root != nil:
		src := d.root.Get(d.format)
		switch {
		case src == nil:
		case src.Type() == fastjson.TypeObject:
			src.GetObject().Visit(func(k []byte, _ *fastjson.Value) { add(string(k)) })
		case src.Type() == fastjson.TypeArray:
			for _, rec := range src.GetArray() {
				if rec.Type() == fastjson.TypeObject {
					rec.GetObject().Visit(func(k []byte, _ *fastjson.Value) { add(string(k)) })
				}
			}
		}
	}
	return extra
}
