package signature

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// StickyKey appends to dst the value of column in the first record of a
// scoring request, so that a traffic split can keep every request of one
// cohort (a customer, a user) on the same target. It understands
// dataframe_split, dataframe_records, instances and inputs (records or
// dict of columns) in JSON, CSV with a header row, and (StickyKeyInfer)
// an inference request's input tensor named column. Strings are
// appended as their text, numbers and booleans as their JSON text. It
// reports false when the request has no such column or is malformed; the
// caller then splits at random, and decoding reports the mistake.
//
// It does not parse the body into a tree: it walks the JSON text to the
// first record, skipping what it passes over, so its time is linear in
// the bytes before the key and it allocates nothing.
func StickyKey(dst []byte, f Format, body []byte, column string) ([]byte, bool) {
	if f == FormatCSV {
		return csvKey(dst, body, column)
	}
	s := jsonScanner{b: body, maxDepth: MaxRequestDepth}
	root := s.ws(0)
	if root >= len(body) || body[root] != '{' {
		return dst, false
	}
	if f == FormatInfer {
		return StickyKeyInfer(dst, body, -1, column)
	}
	cell := -1
	switch {
	case s.member(root, keySplit) >= 0:
		split := s.member(root, keySplit)
		cols := s.member(split, "columns")
		idx := -1
		for i := 0; idx < 0; i++ {
			c := s.item(cols, i)
			if c < 0 {
				return dst, false
			}
			if end := s.value(c, 0, roleNone); body[c] == '"' && end > c && keyIs(body[c+1:end-1], column) {
				idx = i
			}
		}
		cell = s.item(s.item(s.member(split, "data"), 0), idx)
	case s.member(root, keyRecords) >= 0:
		cell = s.member(s.item(s.member(root, keyRecords), 0), column)
	default:
		in := s.member(root, keyInstances)
		if in < 0 {
			in = s.member(root, keyInputs)
		}
		switch {
		case in < 0:
		case body[in] == '[':
			cell = s.member(s.item(in, 0), column)
		case body[in] == '{':
			cell = s.member(in, column)
			if cell >= 0 && body[cell] == '[' {
				cell = s.item(cell, 0)
			}
		}
	}
	return s.cellKey(dst, cell)
}

// cellKey appends the JSON value at offset cell as a sticky key: a
// string's text, a number's or boolean's JSON text; false for null, a list,
// an object or no value (cell < 0).
func (s *jsonScanner) cellKey(dst []byte, cell int) ([]byte, bool) {
	body := s.b
	if cell < 0 {
		return dst, false
	}
	end := s.value(cell, 0, roleNone)
	if end < 0 {
		return dst, false
	}
	switch body[cell] {
	case '"':
		return appendUnescaped(dst, body[cell+1:end-1]), true
	case 'n', '[', '{':
		return dst, false
	}
	return append(dst, body[cell:end]...), true
}

// StickyKeyInfer appends to dst the first value of the input tensor named
// column of an inference request, whose JSON object is body[:header] (-1:
// the whole body) and binary tensor data the rest: from its "data" as
// StickyKey reads it, or from its binary data as StickyKeyTensors does. It
// walks the JSON text once and allocates nothing; it reports false when no
// input has that name or the request is malformed.
func StickyKeyInfer(dst, body []byte, header int, column string) ([]byte, bool) {
	if header < 0 || header > len(body) {
		header = len(body)
	}
	js, tail := body[:header], body[header:]
	s := jsonScanner{b: js, maxDepth: MaxRequestDepth}
	root := s.ws(0)
	if root >= len(js) || js[root] != '{' {
		return dst, false
	}
	i := s.member(root, inferKeyInputs)
	if i < 0 || js[i] != '[' {
		return dst, false
	}
	off := 0
	for i = s.ws(i + 1); i < len(js) && js[i] == '{'; {
		size := -1
		if ps := s.member(i, inferKeyParameters); ps >= 0 {
			if v := s.member(ps, paramBinaryDataSize); v >= 0 {
				if end := s.value(v, 0, roleNone); end > v {
					if n, err := strconv.Atoi(b2s(js[v:end])); err == nil && n >= 0 {
						size = n
					}
				}
			}
		}
		if name := s.member(i, inferKeyName); name >= 0 && js[name] == '"' {
			if end := s.value(name, 0, roleNone); end > name && keyIs(js[name+1:end-1], column) {
				if size >= 0 {
					return s.binaryKey(dst, i, tail, off, size)
				}
				cell := s.member(i, inferKeyData)
				for cell >= 0 && js[cell] == '[' {
					cell = s.item(cell, 0)
				}
				return s.cellKey(dst, cell)
			}
		}
		if size > 0 {
			off += size
		}
		if i = s.value(i, 1, roleNone); i < 0 {
			return dst, false
		}
		if i = s.ws(i); i >= len(js) || js[i] != ',' {
			return dst, false
		}
		i = s.ws(i + 1)
	}
	return dst, false
}

// binaryKey appends the first value of the input at offset i, whose size
// bytes of binary data start at off in tail.
func (s *jsonScanner) binaryKey(dst []byte, i int, tail []byte, off, size int) ([]byte, bool) {
	dt := s.member(i, inferKeyDatatype)
	if dt < 0 || s.b[dt] != '"' || off+size > len(tail) {
		return dst, false
	}
	end := s.value(dt, 0, roleNone)
	if end <= dt {
		return dst, false
	}
	t := Tensor{HasRaw: true, Raw: tail[off : off+size]}
	t.Datatype, _ = ParseDatatype(b2s(s.b[dt+1 : end-1]))
	return rawKey(dst, &t)
}

// member returns the offset of the value of the first key k in the object
// at offset i, or -1 when i is not an object, has no such key, or the text
// up to the key is malformed.
func (s *jsonScanner) member(i int, k string) int {
	b := s.b
	if i < 0 || i >= len(b) || b[i] != '{' {
		return -1
	}
	for i = s.ws(i + 1); i < len(b) && b[i] == '"'; {
		end := s.str(i)
		if end < 0 {
			return -1
		}
		match := keyIs(b[i+1:end-1], k)
		if end = s.ws(end); end >= len(b) || b[end] != ':' {
			return -1
		}
		v := s.ws(end + 1)
		if match {
			return v
		}
		if i = s.value(v, 1, roleNone); i < 0 {
			return -1
		}
		if i = s.ws(i); i >= len(b) || b[i] != ',' {
			return -1
		}
		i = s.ws(i + 1)
	}
	return -1
}

// item returns the offset of item n of the list at offset i, or -1 when i
// is not a list, has fewer items, or the text up to the item is malformed.
func (s *jsonScanner) item(i, n int) int {
	b := s.b
	if i < 0 || i >= len(b) || b[i] != '[' {
		return -1
	}
	i = s.ws(i + 1)
	if i < len(b) && b[i] == ']' {
		return -1
	}
	for ; n > 0; n-- {
		if i = s.value(i, 1, roleNone); i < 0 {
			return -1
		}
		if i = s.ws(i); i >= len(b) || b[i] != ',' {
			return -1
		}
		i = s.ws(i + 1)
	}
	if i >= len(b) {
		return -1
	}
	return i
}

// appendUnescaped appends the text of the raw JSON string content r
// (between its quotes, as scanned) to dst.
func appendUnescaped(dst, r []byte) []byte {
	for i := 0; i < len(r); {
		c := r[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		e := r[i+1]
		i += 2
		switch e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			x := rune(hexValue(r[i : i+4]))
			i += 4
			if utf16.IsSurrogate(x) && i+6 <= len(r) && r[i] == '\\' && r[i+1] == 'u' {
				if y := rune(hexValue(r[i+2 : i+6])); utf16.DecodeRune(x, y) != utf8.RuneError {
					x = utf16.DecodeRune(x, y)
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, x)
		default:
			dst = append(dst, e)
		}
	}
	return dst
}

// hexValue returns the value of four hex digits the scanner has checked.
func hexValue(h []byte) uint32 {
	var n uint32
	for _, c := range h {
		switch {
		case c >= 'a':
			c -= 'a' - 10
		case c >= 'A':
			c -= 'A' - 10
		default:
			c -= '0'
		}
		n = n<<4 | uint32(c)
	}
	return n
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

// StickyKeyTensors appends to dst the first value of the input tensor
// named column among ts, as StickyKey does for a JSON request: strings as
// their bytes, integers in decimal, floats as Python writes them, booleans
// as true or false. It reports false when no tensor has that name or it
// holds no value.
func StickyKeyTensors(dst []byte, ts []Tensor, column string) ([]byte, bool) {
	for i := range ts {
		t := &ts[i]
		if t.Name != column {
			continue
		}
		if t.HasRaw {
			return rawKey(dst, t)
		}
		switch {
		case len(t.Bytes) > 0:
			return append(dst, t.Bytes[0]...), true
		case len(t.Int) > 0:
			return strconv.AppendInt(dst, int64(t.Int[0]), 10), true
		case len(t.Int64) > 0:
			return strconv.AppendInt(dst, t.Int64[0], 10), true
		case len(t.Uint) > 0:
			return strconv.AppendUint(dst, uint64(t.Uint[0]), 10), true
		case len(t.Uint64) > 0:
			return strconv.AppendUint(dst, t.Uint64[0], 10), true
		case len(t.FP32) > 0:
			return appendPyFloat(dst, float64(t.FP32[0])), true
		case len(t.FP64) > 0:
			return appendPyFloat(dst, t.FP64[0]), true
		case len(t.Bool) > 0:
			return strconv.AppendBool(dst, t.Bool[0]), true
		}
		return dst, false
	}
	return dst, false
}

// rawKey appends the first value of t's raw data.
func rawKey(dst []byte, t *Tensor) ([]byte, bool) {
	r := t.Raw
	size := t.Datatype.Size()
	switch t.Datatype {
	case DatatypeBytes:
		if len(r) < 4 || uint64(binary.LittleEndian.Uint32(r)) > uint64(len(r)-4) {
			return dst, false
		}
		return append(dst, r[4:4+binary.LittleEndian.Uint32(r)]...), true
	case DatatypeInvalid:
		return dst, false
	}
	if len(r) < size {
		return dst, false
	}
	switch t.Datatype {
	case DatatypeBool:
		return strconv.AppendBool(dst, r[0] != 0), true
	case DatatypeFP16:
		return appendPyFloat(dst, float64(halfToFloat32(binary.LittleEndian.Uint16(r)))), true
	case DatatypeFP32:
		return appendPyFloat(dst, float64(math.Float32frombits(binary.LittleEndian.Uint32(r)))), true
	case DatatypeFP64:
		return appendPyFloat(dst, math.Float64frombits(binary.LittleEndian.Uint64(r))), true
	case DatatypeUint64:
		return strconv.AppendUint(dst, binary.LittleEndian.Uint64(r), 10), true
	}
	return strconv.AppendInt(dst, rawInt(r, t.Datatype, 0), 10), true
}
