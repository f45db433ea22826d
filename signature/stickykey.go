package signature

import (
	"bytes"
	"strconv"

	"github.com/valyala/fastjson"
)

var keyParsers fastjson.ParserPool

// StickyKey appends to dst the value of column in the first record of a
// scoring request, so that a traffic split can keep every request of one
// cohort (a customer, a user) on the same target. It understands
// dataframe_split, dataframe_records, instances and inputs (records or
// dict of columns) in JSON, and CSV with a header row. Strings are
// appended as their text, numbers and booleans as their JSON text. It
// reports false when the request has no such column or is malformed; the
// caller then splits at random, and decoding reports the mistake.
func StickyKey(dst []byte, f Format, body []byte, column string) ([]byte, bool) {
	if f == FormatCSV {
		return csvKey(dst, body, column)
	}
	p := keyParsers.Get()
	defer keyParsers.Put(p)
	root, err := p.ParseBytes(body)
	if err != nil || root.Type() != fastjson.TypeObject {
		return dst, false
	}
	var cell *fastjson.Value
	switch {
	case root.Exists("dataframe_split"):
		split := root.Get("dataframe_split")
		idx := -1
		for i, c := range split.GetArray("columns") {
			if s, err := c.StringBytes(); err == nil && string(s) == column {
				idx = i
				break
			}
		}
		if idx < 0 {
			return dst, false
		}
		cell = split.Get("data", "0", strconv.Itoa(idx))
	case root.Exists("dataframe_records"):
		cell = root.Get("dataframe_records", "0", column)
	default:
		in := root.Get("instances")
		if in == nil {
			in = root.Get("inputs")
		}
		if in == nil {
			return dst, false
		}
		switch in.Type() {
		case fastjson.TypeArray:
			cell = in.Get("0", column)
		case fastjson.TypeObject:
			cell = in.Get(column)
			if cell != nil && cell.Type() == fastjson.TypeArray {
				cell = cell.Get("0")
			}
		}
	}
	if cell == nil {
		return dst, false
	}
	switch cell.Type() {
	case fastjson.TypeString:
		s, _ := cell.StringBytes()
		return append(dst, s...), true
	case fastjson.TypeNull, fastjson.TypeArray, fastjson.TypeObject:
		return dst, false
	}
	return cell.MarshalTo(dst), true
}

// csvKey finds column in a CSV header and returns its field in the first
// data row. Quoted fields are taken without their quotes.
func csvKey(dst, body []byte, column string) ([]byte, bool) {
	header, rest, _ := bytes.Cut(body, []byte{'\n'})
	row, _, _ := bytes.Cut(rest, []byte{'\n'})
	idx := -1
	for i, name := range csvFields(header) {
		if string(name) == column {
			idx = i
			break
		}
	}
	if idx < 0 {
		return dst, false
	}
	fields := csvFields(row)
	if idx >= len(fields) {
		return dst, false
	}
	return append(dst, fields[idx]...), true
}

func csvFields(line []byte) [][]byte {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	var out [][]byte
	for len(line) > 0 || out == nil {
		var f []byte
		f, line, _ = bytes.Cut(line, []byte{','})
		out = append(out, bytes.Trim(bytes.TrimSpace(f), `"`))
		if len(line) == 0 {
			break
		}
	}
	return out
}
