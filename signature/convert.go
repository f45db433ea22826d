package signature

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// Conversions follow the scoring server: for DataFrame requests, pandas'
// astype to the column's type (JSON ints pass into double columns, floats
// truncate into long columns, numeric strings parse); for "inputs" and
// "instances", np.array(value, dtype=...), which casts the same way. Where
// the two would silently produce nonsense mlgate refuses instead: a null
// in an integer, boolean or string column, and strings in a boolean column
// (pandas turns "false" into True).
//
// Numeric conversions allocate nothing. String and binary values alias the
// batch's scratch memory; binary values are base64-decoded into it.

// putJSON converts v (nil when the request lacks the value) for field f and
// stores it at feed element idx; feed is nil when f is only validated. at
// locates the value for error messages.
func (d *scratch) putJSON(f *field, v *fastjson.Value, feed *Feed, idx int, at loc) error {
	switch f.src {
	case Int32, Int64, Int8, Int16, Uint8, Uint16, Uint32, Uint64:
		n, ok := d.jsonInt(v, f.src)
		if !ok {
			return d.convError(f, v, at)
		}
		if feed != nil {
			storeInt(feed, idx, n)
		}
	case Float32, Float64:
		x, ok := d.jsonFloat(v)
		if !ok {
			return d.convError(f, v, at)
		}
		if !finite(x) && d.refusesNonFinite(f) {
			return nonFiniteError(f, jsonNonFinite(v, x), at)
		}
		if f.src == Float32 {
			x = float64(float32(x))
		}
		if feed != nil {
			storeFloat(feed, idx, x)
		}
	case Bool:
		t, ok := d.jsonBool(v)
		if !ok {
			return d.convError(f, v, at)
		}
		if feed != nil {
			feed.B[idx] = t
		}
	case String:
		if v == nil || v.Type() != fastjson.TypeString {
			return d.convError(f, v, at)
		}
		s := b2s(v.GetStringBytes())
		if f.binary {
			var ok bool
			if s, ok = d.unbase64(s); !ok {
				return badRequest("%s (binary)%s: %s is not valid base64", f.label(), at, describe(v))
			}
		}
		if feed != nil {
			feed.S[idx] = s
		}
	default:
		// Datetime and complex columns are validated only. A datetime may be
		// missing (NaT); a complex value only when the column is optional.
		if msg := d.checkValue(v, f.col, f.required && f.col.Type != TypeDatetime); msg != "" {
			return badRequest("%s (%s)%s: %s", f.label(), typeString(f.col), at, msg)
		}
	}
	return nil
}

// putText converts CSV field text for field f and stores it at feed element
// idx, with pandas.read_csv's rules: its default missing-value markers ("",
// "NA", "nan", ...) are NaN in float columns and errors in integer and
// boolean columns, and integers must be written as integers.
func (d *scratch) putText(f *field, text string, feed *Feed, idx int, at loc) error {
	switch f.src {
	case Int32, Int64, Int8, Int16, Uint8, Uint16, Uint32, Uint64:
		if isNA(text) {
			return badRequest("%s (%s)%s: missing value; %s values cannot be missing", f.label(), f.typeName(), at, f.typeName())
		}
		n, err := strconv.ParseInt(trimSpace(text), 10, 64)
		if err != nil || !intFits(n, f.src) {
			return badRequest("%s (%s)%s: cannot convert %s to %s", f.label(), f.typeName(), at, quote(text), f.typeName())
		}
		if feed != nil {
			storeInt(feed, idx, n)
		}
	case Float32, Float64:
		x := math.NaN()
		if !isNA(text) {
			var ok bool
			if x, ok = parseFloatString(text); !ok {
				return badRequest("%s (%s)%s: cannot convert %s to %s", f.label(), f.typeName(), at, quote(text), f.typeName())
			}
		}
		if !finite(x) && d.refusesNonFinite(f) {
			what := quote(text)
			if isNA(text) {
				what = "the missing value " + what
			}
			return nonFiniteError(f, what, at)
		}
		if f.src == Float32 {
			x = float64(float32(x))
		}
		if feed != nil {
			storeFloat(feed, idx, x)
		}
	case Bool:
		var t bool
		switch text {
		case "True", "true", "TRUE":
			t = true
		case "False", "false", "FALSE":
		default:
			return badRequest("%s (%s)%s: cannot convert %s to a boolean; write true or false", f.label(), f.typeName(), at, quote(text))
		}
		if feed != nil {
			feed.B[idx] = t
		}
	case String:
		s := text
		if f.binary {
			var ok bool
			if s, ok = d.unbase64(text); !ok {
				return badRequest("%s (binary)%s: %s is not valid base64", f.label(), at, quote(text))
			}
		}
		if feed != nil {
			feed.S[idx] = s
		}
	default:
		if f.col != nil && f.col.Type != TypeDatetime && f.col.Type != TypeAny {
			return badRequest("%s has type %s, which CSV cannot carry; send JSON", f.label(), typeString(f.col))
		}
	}
	return nil
}

func storeInt(f *Feed, idx int, n int64) {
	switch f.DType {
	case Int64:
		f.I64[idx] = n
	case Int32:
		f.I32[idx] = int32(n)
	case Float32:
		// Through float64, as numpy's int64 -> float64 -> float32 path.
		f.F32[idx] = float32(float64(n))
	case Float64:
		f.F64[idx] = float64(n)
	}
}

func storeFloat(f *Feed, idx int, x float64) {
	switch f.DType {
	case Float32:
		f.F32[idx] = float32(x)
	case Float64:
		f.F64[idx] = x
	}
}

// numText returns the text of number v. It aliases d.num and is valid until
// the next call.
func (d *scratch) numText(v *fastjson.Value) string {
	d.num = v.MarshalTo(d.num[:0])
	return b2s(d.num)
}

// jsonInt converts v to an integer of type t: JSON integers exactly, other
// numbers truncated toward zero, booleans as 0 and 1, strings as Python's
// int() parses them. It fails on null, NaN, infinities, values out of t's
// range and anything else.
func (d *scratch) jsonInt(v *fastjson.Value, t DType) (int64, bool) {
	if v == nil {
		return 0, false
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		text := d.numText(v)
		if isIntLiteral(text) {
			n, err := strconv.ParseInt(text, 10, 64)
			return n, err == nil && intFits(n, t)
		}
		x, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsNaN(x) || x < -(1<<63) || x >= 1<<63 {
			return 0, false
		}
		n := int64(x) // truncates toward zero
		return n, intFits(n, t)
	case fastjson.TypeTrue:
		return 1, true
	case fastjson.TypeFalse:
		return 0, true
	case fastjson.TypeString:
		n, err := strconv.ParseInt(trimSpace(b2s(v.GetStringBytes())), 10, 64)
		return n, err == nil && intFits(n, t)
	}
	return 0, false
}

// jsonFloat converts v to float64: numbers (including NaN and the
// infinities), booleans as 0 and 1, numeric strings as Python's float()
// parses them, and null or a missing value as NaN.
func (d *scratch) jsonFloat(v *fastjson.Value) (float64, bool) {
	if v == nil {
		return math.NaN(), true
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		// The scanner has checked the syntax, so the only possible error is
		// a range error, for which ParseFloat returns ±Inf or 0 as Python does.
		x, _ := strconv.ParseFloat(d.numText(v), 64)
		return x, true
	case fastjson.TypeNull:
		return math.NaN(), true
	case fastjson.TypeTrue:
		return 1, true
	case fastjson.TypeFalse:
		return 0, true
	case fastjson.TypeString:
		return parseFloatString(b2s(v.GetStringBytes()))
	}
	return 0, false
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// refusesNonFinite reports whether f, under the request's limits, refuses
// a missing or non-finite value: a required column of a column-based
// signature, unless MissingNaN.
func (d *scratch) refusesNonFinite(f *field) bool {
	return f.col != nil && f.required && d.lim.MissingValues == MissingRefuse
}

// nonFiniteError refuses what, a missing or non-finite value of f.
func nonFiniteError(f *field, what string, at loc) error {
	return badRequest("%s (%s)%s: %s is not a finite number; this route takes finite numbers only in required columns "+
		"(missing_values: nan takes null, NaN and the infinities as MLflow does)", f.label(), f.typeName(), at, what)
}

// jsonNonFinite names v, a JSON value that converted to x, which is not
// finite.
func jsonNonFinite(v *fastjson.Value, x float64) string {
	switch {
	case v == nil:
		return "a missing value"
	case v.Type() == fastjson.TypeNull:
		return "null"
	case v.Type() == fastjson.TypeString:
		return describe(v)
	case math.IsNaN(x):
		return "the number NaN"
	case x > 0:
		return "the number Infinity"
	}
	return "the number -Infinity"
}

// jsonBool converts v to a boolean: true and false, and numbers as numpy
// casts them (non-zero is true).
func (d *scratch) jsonBool(v *fastjson.Value) (bool, bool) {
	if v == nil {
		return false, false
	}
	switch v.Type() {
	case fastjson.TypeTrue:
		return true, true
	case fastjson.TypeFalse:
		return false, true
	case fastjson.TypeNumber:
		x, _ := strconv.ParseFloat(d.numText(v), 64)
		return x != 0, true
	}
	return false, false
}

// parseFloatString parses s as Python's float() does for decimal input:
// surrounding whitespace, an optional sign, "nan", "inf" and "infinity" in
// any case. Hexadecimal and underscores are refused.
func parseFloatString(s string) (float64, bool) {
	s = trimSpace(s)
	if s == "" || strings.ContainsAny(s, "xX_") {
		return 0, false
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return 0, false
		}
	}
	return x, true
}

// isIntLiteral reports whether a JSON number has neither a fraction nor an
// exponent (and is not NaN or an infinity).
func isIntLiteral(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func intFits(n int64, t DType) bool {
	switch t {
	case Int8:
		return n >= math.MinInt8 && n <= math.MaxInt8
	case Int16:
		return n >= math.MinInt16 && n <= math.MaxInt16
	case Int32:
		return n >= math.MinInt32 && n <= math.MaxInt32
	case Uint8:
		return n >= 0 && n <= math.MaxUint8
	case Uint16:
		return n >= 0 && n <= math.MaxUint16
	case Uint32:
		return n >= 0 && n <= math.MaxUint32
	case Uint64:
		return n >= 0
	}
	return true
}

func trimSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// isNA reports whether a CSV field is one of pandas.read_csv's default
// missing-value markers.
func isNA(s string) bool {
	switch s {
	case "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
		"1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null":
		return true
	}
	return false
}

// unbase64 decodes s, as Python's base64.decodebytes does (line breaks
// allowed), into d.text and returns the bytes as a string aliasing it.
func (d *scratch) unbase64(s string) (string, bool) {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", "", "\n", "").Replace(s)
	}
	start := len(d.text)
	d.text = append(d.text, make([]byte, base64.StdEncoding.DecodedLen(len(s)))...)
	n, err := base64.StdEncoding.Decode(d.text[start:], []byte(s))
	if err != nil {
		d.text = d.text[:start]
		return "", false
	}
	d.text = d.text[:start+n]
	return b2s(d.text[start : start+n]), true
}

// convError describes a value that field f cannot take.
func (d *scratch) convError(f *field, v *fastjson.Value, at loc) error {
	what := f.typeName()
	reason := ""
	switch {
	case v == nil || v.Type() == fastjson.TypeNull:
		switch f.src {
		case Bool:
			reason = "; boolean values cannot be missing"
		case String:
			reason = "; string values cannot be missing"
		default:
			reason = "; integer values cannot be missing"
			if f.col != nil {
				reason += " (a double column can hold them)"
			}
		}
	case v.Type() == fastjson.TypeString && f.src == Bool:
		reason = "; send true or false"
	case v.Type() == fastjson.TypeNumber && f.src != String && f.src != Bool:
		reason = ": out of range or not finite"
	}
	return badRequest("%s (%s)%s: cannot convert %s to %s%s", f.label(), what, at, describe(v), what, reason)
}

// loc locates a value in a request for error messages: a row, or an element
// index of a tensor. The zero loc says nothing.
type loc struct {
	row   int // row+1; 0 when unknown
	shape []int64
	flat  int // flat element index within shape, when shape is set
}

func rowLoc(r int) loc { return loc{row: r + 1} }

// String returns ", row 3" or " at [2][0]".
func (l loc) String() string {
	if l.shape != nil {
		var sb strings.Builder
		sb.WriteString(" at ")
		idx := l.flat
		pos := make([]int, len(l.shape))
		for k := len(l.shape) - 1; k >= 0; k-- {
			if l.shape[k] > 0 {
				pos[k] = idx % int(l.shape[k])
				idx /= int(l.shape[k])
			}
		}
		for _, p := range pos {
			sb.WriteString("[" + strconv.Itoa(p) + "]")
		}
		return sb.String()
	}
	if l.row > 0 {
		return ", row " + strconv.Itoa(l.row-1)
	}
	return ""
}
