package signature

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// AppendPredictions appends the scoring server's response body,
// {"predictions": ...}, for outs to dst, byte for byte as MLflow's
// json.dumps writes it: ", " and ": " separators, non-ASCII escaped as
// \uXXXX, floats as Python's repr of the float64 value (float32 outputs
// widened exactly, integral floats as "37.0", NaN and Infinity as Python
// writes them), int64 as integers, bool as true and false.
//
// With records (the DataFrame path) every output is flattened in C order and
// predictions is a list of one object per element, {"name": value, ...} in
// output order; the outputs must then flatten to the same length. Without
// records predictions is an object mapping each output name to its values
// nested by Shape. A sequence-of-maps output (Seq) gives one map per row,
// {"0": 0.8, "1": 0.2}, as json.dumps writes a dict with int keys. A single
// output with an empty Name is written bare, as a nested list, which is
// what a model that returns a plain array gets.
//
// On error dst is returned unchanged. AppendPredictions allocates nothing
// when dst has enough capacity.
func AppendPredictions(dst []byte, records bool, outs []Output) ([]byte, error) {
	start := len(dst)
	dst = append(dst, `{"predictions": `...)
	var err error
	switch {
	case len(outs) == 1 && outs[0].Name == "":
		dst, err = appendOutput(dst, &outs[0])
	case records:
		dst, err = appendRecords(dst, outs)
	default:
		dst = append(dst, '{')
		for i := range outs {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendPyString(dst, outs[i].Name)
			dst = append(dst, ": "...)
			if dst, err = appendOutput(dst, &outs[i]); err != nil {
				break
			}
		}
		dst = append(dst, '}')
	}
	if err != nil {
		return dst[:start], err
	}
	return append(dst, '}'), nil
}

// AppendError appends MLflow's error body {"error_code": code, "message":
// message} to dst, escaped as json.dumps escapes it.
func AppendError(dst []byte, code, message string) []byte {
	dst = append(dst, `{"error_code": `...)
	dst = appendPyString(dst, code)
	dst = append(dst, `, "message": `...)
	dst = appendPyString(dst, message)
	return append(dst, '}')
}

// outputLen returns the number of elements (or maps) of o.
func outputLen(o *Output) int {
	if o.Seq != nil {
		return len(o.Seq)
	}
	switch o.DType {
	case Float32:
		return len(o.F32)
	case Float64:
		return len(o.F64)
	case Int32:
		return len(o.I32)
	case Int64:
		return len(o.I64)
	case Bool:
		return len(o.B)
	case String:
		return len(o.S)
	}
	return -1
}

func appendRecords(dst []byte, outs []Output) ([]byte, error) {
	n := 0
	for i := range outs {
		l := outputLen(&outs[i])
		if l < 0 {
			return dst, fmt.Errorf("output %q: unsupported element type %s", outs[i].Name, outs[i].DType)
		}
		if i == 0 {
			n = l
		} else if l != n {
			return dst, fmt.Errorf("outputs %q and %q flatten to %d and %d values; one record per row needs equal lengths", outs[0].Name, outs[i].Name, n, l)
		}
	}
	dst = append(dst, '[')
	for r := range n {
		if r > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, '{')
		for i := range outs {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendPyString(dst, outs[i].Name)
			dst = append(dst, ": "...)
			dst = appendElem(dst, &outs[i], r)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']'), nil
}

// appendOutput appends o nested by its shape, or its maps as a list.
func appendOutput(dst []byte, o *Output) ([]byte, error) {
	n := outputLen(o)
	if n < 0 {
		return dst, fmt.Errorf("output %q: unsupported element type %s", o.Name, o.DType)
	}
	if o.Seq != nil {
		dst = append(dst, '[')
		for i := range o.Seq {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendMap(dst, &o.Seq[i])
		}
		return append(dst, ']'), nil
	}
	want := 1
	for _, d := range o.Shape {
		if d < 0 {
			return dst, fmt.Errorf("output %q has a negative dimension in shape %v", o.Name, o.Shape)
		}
		want *= int(d)
	}
	if want != n {
		return dst, fmt.Errorf("output %q has %d values, but its shape %v holds %d", o.Name, n, o.Shape, want)
	}
	dst, _ = appendNested(dst, o, o.Shape, 0)
	return dst, nil
}

func appendNested(dst []byte, o *Output, shape []int64, idx int) ([]byte, int) {
	if len(shape) == 0 {
		return appendElem(dst, o, idx), idx + 1
	}
	dst = append(dst, '[')
	for i := range shape[0] {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst, idx = appendNested(dst, o, shape[1:], idx)
	}
	return append(dst, ']'), idx
}

func appendElem(dst []byte, o *Output, i int) []byte {
	if o.Seq != nil {
		return appendMap(dst, &o.Seq[i])
	}
	switch o.DType {
	case Float32:
		return appendPyFloat(dst, float64(o.F32[i]))
	case Float64:
		return appendPyFloat(dst, o.F64[i])
	case Int32:
		return strconv.AppendInt(dst, int64(o.I32[i]), 10)
	case Int64:
		return strconv.AppendInt(dst, o.I64[i], 10)
	case Bool:
		return strconv.AppendBool(dst, o.B[i])
	case String:
		return appendPyString(dst, o.S[i])
	}
	return dst
}

func appendMap(dst []byte, m *MapValue) []byte {
	dst = append(dst, '{')
	for i, v := range m.Values {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		switch {
		case i < len(m.IntKeys):
			dst = append(dst, '"')
			dst = strconv.AppendInt(dst, m.IntKeys[i], 10)
			dst = append(dst, '"')
		case i < len(m.StrKeys):
			dst = appendPyString(dst, m.StrKeys[i])
		default:
			dst = append(dst, `""`...)
		}
		dst = append(dst, ": "...)
		dst = appendPyFloat(dst, v)
	}
	return append(dst, '}')
}

// appendPyFloat appends x as Python's repr(float) writes it: the shortest
// digits that round-trip, in positional notation when the decimal exponent
// is in [-4, 16), with ".0" for integral values, and in exponent notation
// (1e-05, 1.5e+16) otherwise. NaN and infinities are written as json.dumps
// writes them: NaN, Infinity, -Infinity.
func appendPyFloat(dst []byte, x float64) []byte { return appendFloatBits(dst, x, 64) }

// appendFloat32 appends x as appendPyFloat does, with the shortest digits
// that round-trip as a float32 (0.1, not 0.10000000149011612).
func appendFloat32(dst []byte, x float32) []byte { return appendFloatBits(dst, float64(x), 32) }

// appendFloatBits appends x, a float of the given size, in Python's repr
// layout.
func appendFloatBits(dst []byte, x float64, bits int) []byte {
	switch {
	case math.IsNaN(x):
		return append(dst, "NaN"...)
	case math.IsInf(x, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(x, -1):
		return append(dst, "-Infinity"...)
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], x, 'e', -1, bits) // [-]d[.ddd]e±dd
	if e[0] == '-' {
		dst = append(dst, '-')
		e = e[1:]
	}
	// Split into digits and the decimal exponent.
	var digits [24]byte
	nd := 0
	k := 0
	for ; e[k] != 'e'; k++ {
		if e[k] != '.' {
			digits[nd] = e[k]
			nd++
		}
	}
	exp := 0
	for _, c := range e[k+2:] {
		exp = exp*10 + int(c-'0')
	}
	if e[k+1] == '-' {
		exp = -exp
	}
	decpt := exp + 1 // the value is 0.d1d2... × 10^decpt
	if decpt <= -4 || decpt > 16 {
		dst = append(dst, digits[0])
		if nd > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:nd]...)
		}
		dst = append(dst, 'e')
		if exp < 0 {
			dst = append(dst, '-')
			exp = -exp
		} else {
			dst = append(dst, '+')
		}
		if exp < 10 {
			dst = append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(exp), 10)
	}
	switch {
	case decpt <= 0:
		dst = append(dst, "0."...)
		for range -decpt {
			dst = append(dst, '0')
		}
		dst = append(dst, digits[:nd]...)
	case decpt >= nd:
		dst = append(dst, digits[:nd]...)
		for range decpt - nd {
			dst = append(dst, '0')
		}
		dst = append(dst, ".0"...)
	default:
		dst = append(dst, digits[:decpt]...)
		dst = append(dst, '.')
		dst = append(dst, digits[decpt:nd]...)
	}
	return dst
}

// appendPyString appends s as a JSON string the way json.dumps writes it
// with ensure_ascii: '"', '\\', \n, \r, \t, \b and \f escaped by name, other
// characters outside printable ASCII as \u00XX or UTF-16 \uXXXX escapes
// (lower-case hex). Invalid UTF-8 is written as \ufffd.
func appendPyString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			j := i + 1
			for j < len(s) && s[j] >= 0x20 && s[j] < 0x7f && s[j] != '"' && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		var r rune
		size := 1
		if c < utf8.RuneSelf {
			r = rune(c)
		} else {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		switch r {
		case '"':
			dst = append(dst, `\"`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '\b':
			dst = append(dst, `\b`...)
		case '\f':
			dst = append(dst, `\f`...)
		default:
			if r >= 0x10000 {
				r1, r2 := utf16.EncodeRune(r)
				dst = append(dst, '\\', 'u', hex[r1>>12&0xf], hex[r1>>8&0xf], hex[r1>>4&0xf], hex[r1&0xf])
				r = r2
			}
			dst = append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		}
	}
	return append(dst, '"')
}
