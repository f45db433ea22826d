package onnxgen

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Object is a JSON object whose members keep their order, as a Python dict
// does. Use it wherever MLflow writes a dict (named inputs, dataframe_split).
type Object []Member

// Member is one key and value of an Object.
type Member struct {
	Key   string
	Value any
}

// PythonJSON encodes v the way Python's json.dumps(v) does: separators ", "
// and ": ", non-ASCII escaped as \uXXXX, floats as Python's repr (37.0,
// 1e-05, 0.10000000149011612 for a float32 0.1). MLflow writes
// input_example.json and signature strings this way.
//
// v may be nil, a bool, an integer, a float (a float32 is widened to float64
// first, as numpy's tolist does), a string, an Object, or a slice or array of
// those. A string that is not valid UTF-8 has its bad bytes written as
// U+FFFD. Any other type is an error.
func PythonJSON(v any) ([]byte, error) {
	e := pyEncoder{indent: -1}
	if err := e.value(v, 0); err != nil {
		return nil, err
	}
	return e.buf, nil
}

// PythonJSONIndent encodes v as Python's json.dumps(v, indent=indent) does:
// one item per line, separators "," and ": ", empty lists and dicts as [] and
// {}, no trailing newline. MLflow writes serving_input_example.json with
// indent 2.
func PythonJSONIndent(v any, indent int) ([]byte, error) {
	if indent < 0 {
		return nil, fmt.Errorf("python json: negative indent %d", indent)
	}
	e := pyEncoder{indent: indent}
	if err := e.value(v, 0); err != nil {
		return nil, err
	}
	return e.buf, nil
}

type pyEncoder struct {
	buf    []byte
	indent int // -1: compact
}

func (e *pyEncoder) newline(level int) {
	e.buf = append(e.buf, '\n')
	for range level * e.indent {
		e.buf = append(e.buf, ' ')
	}
}

func (e *pyEncoder) value(v any, level int) error {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case bool:
		e.buf = strconv.AppendBool(e.buf, x)
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case int32:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case int64:
		e.buf = strconv.AppendInt(e.buf, x, 10)
	case float32:
		e.buf = appendPyFloat(e.buf, float64(x))
	case float64:
		e.buf = appendPyFloat(e.buf, x)
	case string:
		e.buf = appendPyString(e.buf, x)
	case Object:
		return e.object(x, level)
	default:
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
			return fmt.Errorf("python json: unsupported type %T", v)
		}
		return e.list(rv, level)
	}
	return nil
}

func (e *pyEncoder) list(rv reflect.Value, level int) error {
	n := rv.Len()
	if n == 0 {
		e.buf = append(e.buf, "[]"...)
		return nil
	}
	e.buf = append(e.buf, '[')
	for i := range n {
		if i > 0 {
			e.separator()
		}
		if e.indent >= 0 {
			e.newline(level + 1)
		}
		if err := e.value(rv.Index(i).Interface(), level+1); err != nil {
			return err
		}
	}
	if e.indent >= 0 {
		e.newline(level)
	}
	e.buf = append(e.buf, ']')
	return nil
}

func (e *pyEncoder) object(o Object, level int) error {
	if len(o) == 0 {
		e.buf = append(e.buf, "{}"...)
		return nil
	}
	e.buf = append(e.buf, '{')
	for i, m := range o {
		if i > 0 {
			e.separator()
		}
		if e.indent >= 0 {
			e.newline(level + 1)
		}
		e.buf = appendPyString(e.buf, m.Key)
		e.buf = append(e.buf, ": "...)
		if err := e.value(m.Value, level+1); err != nil {
			return fmt.Errorf("key %q: %w", m.Key, err)
		}
	}
	if e.indent >= 0 {
		e.newline(level)
	}
	e.buf = append(e.buf, '}')
	return nil
}

func (e *pyEncoder) separator() {
	if e.indent >= 0 {
		e.buf = append(e.buf, ',')
	} else {
		e.buf = append(e.buf, ", "...)
	}
}

// appendPyFloat appends repr(f) as Python 3 writes it: the shortest digits
// that round-trip, in positional notation when the decimal exponent is in
// [-4, 16) and with a ".0" on integral values, otherwise in exponent notation
// with a signed exponent of at least two digits. NaN and infinities are
// written as json.dumps does by default (NaN, Infinity, -Infinity).
func appendPyFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	exp := strconv.AppendFloat(nil, f, 'e', -1, 64)
	i := strings.LastIndexByte(string(exp), 'e')
	e10, _ := strconv.Atoi(string(exp[i+1:]))
	if e10 < -4 || e10 >= 16 {
		return append(b, exp...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	if !strings.ContainsRune(string(b[start:]), '.') {
		b = append(b, ".0"...)
	}
	return b
}

// appendPyString appends s as a JSON string with json.dumps's default
// ensure_ascii escaping.
func appendPyString(b []byte, s string) []byte {
	const hexdig = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch c {
			case '"':
				b = append(b, '\\', '"')
			case '\\':
				b = append(b, '\\', '\\')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				if c < 0x20 || c == 0x7f {
					b = append(b, '\\', 'u', '0', '0', hexdig[c>>4], hexdig[c&0xf])
				} else {
					b = append(b, c)
				}
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		units := []rune{r}
		if r > 0xffff {
			r1, r2 := utf16.EncodeRune(r)
			units = []rune{r1, r2}
		}
		for _, u := range units {
			b = append(b, '\\', 'u', hexdig[u>>12&0xf], hexdig[u>>8&0xf], hexdig[u>>4&0xf], hexdig[u&0xf])
		}
	}
	return append(b, '"')
}
