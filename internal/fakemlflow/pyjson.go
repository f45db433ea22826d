package fakemlflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Object is a JSON object whose keys keep their insertion order, as Python
// dicts do. Values may be nil, bool, string, int, int64, json.Number (raw
// number text), Object or []any.
type Object []Field

// Field is one key of an Object.
type Field struct {
	Key   string
	Value any
}

// dumpIndent encodes v like Python's json.dumps(v, indent=2), which is how
// MLflow's REST handlers format bodies: "," item separators, ": " key
// separators, non-ASCII escaped, no trailing newline.
func dumpIndent(v any) []byte {
	var b bytes.Buffer
	encode(&b, v, "\n")
	return b.Bytes()
}

// dumpCompact encodes v like Python's json.dumps(v) with default separators
// (", " and ": "), as MLflow's error bodies and webhook payloads are.
func dumpCompact(v any) []byte {
	var b bytes.Buffer
	encode(&b, v, "")
	return b.Bytes()
}

// encode writes v; nl is "" for compact output or "\n" plus the current
// indentation for indented output.
func encode(b *bytes.Buffer, v any, nl string) {
	inner, sep := nl, ", "
	if nl != "" {
		inner, sep = nl+"  ", ","
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case string:
		writeString(b, v)
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case json.Number:
		b.WriteString(v.String())
	case Object:
		if len(v) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		for i, f := range v {
			if i > 0 {
				b.WriteString(sep)
			}
			b.WriteString(inner)
			writeString(b, f.Key)
			b.WriteString(": ")
			encode(b, f.Value, inner)
		}
		b.WriteString(nl)
		b.WriteByte('}')
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(sep)
			}
			b.WriteString(inner)
			encode(b, e, inner)
		}
		b.WriteString(nl)
		b.WriteByte(']')
	default:
		panic(fmt.Sprintf("fakemlflow: cannot encode %T", v))
	}
}

// writeString quotes s as Python's json module does with ensure_ascii=True:
// only printable ASCII is written as is.
func writeString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	u4 := func(r rune) {
		b.WriteString(`\u`)
		b.WriteByte(hex[r>>12&0xf])
		b.WriteByte(hex[r>>8&0xf])
		b.WriteByte(hex[r>>4&0xf])
		b.WriteByte(hex[r&0xf])
	}
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= ' ' && r <= '~':
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			u4(0xd800 + r>>10)
			u4(0xdc00 + r&0x3ff)
		case r == utf8.RuneError:
			u4(0xfffd)
		default:
			u4(r)
		}
	}
	b.WriteByte('"')
}

// parseOrdered decodes JSON keeping object key order and number text, so
// that dumpIndent(parseOrdered(b)) reproduces a body MLflow wrote.
func parseOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func parseValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := Object{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				obj = append(obj, Field{Key: kt.(string), Value: v})
			}
			_, err := dec.Token()
			return obj, err
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token()
			return arr, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil // nil, bool, string, json.Number
	}
}

// get returns the value of key in o, or nil.
func (o Object) get(key string) any {
	for _, f := range o {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}
