package signature

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// checkParams validates a request's params against the signature's params
// schema (MLflow's _enforce_params_schema): keys the schema does not name
// are ignored, absent params take their defaults, null is "not given", and
// a value must have the param's type (integers may widen to long, float and
// double) and shape (a list for shape (-1,)). Without a params schema every
// param is ignored. ONNX models take no params, so nothing is kept.
func (d *scratch) checkParams(o *fastjson.Object) error {
	p := d.plan
	if len(p.params) == 0 {
		return nil
	}
	var err error
	o.Visit(func(k []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		if i := p.paramIndexOf(k); i >= 0 {
			err = d.checkParam(&p.params[i], v)
		}
	})
	return err
}

// paramIndexOf returns the index of the param named k, or -1.
func (p *Plan) paramIndexOf(k []byte) int {
	if p.paramIndex != nil {
		if i, ok := p.paramIndex[b2s(k)]; ok {
			return i
		}
		return -1
	}
	for i := range p.params {
		if p.params[i].Name == string(k) {
			return i
		}
	}
	return -1
}

func (d *scratch) checkParam(ps *ParamSpec, v *fastjson.Value) error {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	want := ps.Type.String()
	if ps.Type == TypeObject {
		want = "object"
	}
	if ps.Shape != nil {
		if v.Type() != fastjson.TypeArray {
			return invalidParam("params: %s must be a list of %s values; got %s", quote(ps.Name), want, describe(v))
		}
		for i, e := range v.GetArray() {
			if msg := d.checkParamValue(ps, e); msg != "" {
				return invalidParam("params: %s[%d] %s", quote(ps.Name), i, msg)
			}
		}
		return nil
	}
	if msg := d.checkParamValue(ps, v); msg != "" {
		return invalidParam("params: %s %s", quote(ps.Name), msg)
	}
	return nil
}

// checkParamValue returns "" when v is a valid scalar (or object) value of
// ps, else the rest of a sentence saying what is wrong.
func (d *scratch) checkParamValue(ps *ParamSpec, v *fastjson.Value) string {
	if ps.Type == TypeObject {
		if v.Type() != fastjson.TypeObject {
			return "must be an object; got " + describe(v)
		}
		c := ColSpec{Type: TypeObject, Required: true, Properties: ps.Properties}
		if msg := d.checkValue(v, &c, true); msg != "" {
			return msg
		}
		return ""
	}
	ok := false
	switch ps.Type {
	case TypeBoolean:
		ok = v.Type() == fastjson.TypeTrue || v.Type() == fastjson.TypeFalse
	case TypeInteger, TypeLong:
		ok = d.isIntegerValue(v, ps.Type == TypeInteger)
	case TypeFloat, TypeDouble:
		ok = v.Type() == fastjson.TypeNumber
	case TypeString:
		ok = v.Type() == fastjson.TypeString
	case TypeDatetime:
		ok = v.Type() == fastjson.TypeString && isDatetime(string(v.GetStringBytes()))
	}
	if ok {
		return ""
	}
	return "must be " + article(ps.Type.String()) + "; got " + describe(v)
}

// isIntegerValue reports whether v is a JSON integer (no fraction or
// exponent) that fits int32 (small) or int64.
func (d *scratch) isIntegerValue(v *fastjson.Value, small bool) bool {
	if v.Type() != fastjson.TypeNumber {
		return false
	}
	text := d.numText(v)
	neg := len(text) > 0 && text[0] == '-'
	if neg {
		text = text[1:]
	}
	if len(text) == 0 {
		return false
	}
	limit := uint64(math.MaxInt64)
	if small {
		limit = math.MaxInt32
	}
	if neg {
		limit++
	}
	n := uint64(0)
	for _, c := range text {
		if c < '0' || c > '9' || n > (limit-uint64(c-'0'))/10 {
			return false
		}
		n = n*10 + uint64(c-'0')
	}
	return true
}

// isDatetime reports whether s looks like an ISO 8601 date or date-time, as
// np.datetime64 parses them: YYYY-MM-DD, optionally followed by 'T' or a
// space and a time.
func isDatetime(s string) bool {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) == 10 || s[10] == 'T' || s[10] == ' '
}

func article(noun string) string {
	switch noun[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + noun
	}
	return "a " + noun
}

// checkValue validates v against a column type, recursively for array,
// object and map types (MLflow's _enforce_array, _enforce_object and
// _enforce_map). It returns "" when v fits, else what is wrong.
func (d *scratch) checkValue(v *fastjson.Value, c *ColSpec, required bool) string {
	if v == nil || v.Type() == fastjson.TypeNull {
		if required {
			return "missing value"
		}
		return ""
	}
	switch c.Type {
	case TypeBoolean:
		if v.Type() != fastjson.TypeTrue && v.Type() != fastjson.TypeFalse {
			return "expected a boolean, got " + describe(v)
		}
	case TypeInteger, TypeLong:
		if !d.isIntegerValue(v, c.Type == TypeInteger) {
			return "expected " + article(c.Type.String()) + ", got " + describe(v)
		}
	case TypeFloat, TypeDouble:
		if v.Type() != fastjson.TypeNumber {
			return "expected a number, got " + describe(v)
		}
	case TypeString, TypeBinary:
		if v.Type() != fastjson.TypeString {
			return "expected a string, got " + describe(v)
		}
	case TypeDatetime:
		if v.Type() != fastjson.TypeString && v.Type() != fastjson.TypeNumber {
			return "expected a datetime string, got " + describe(v)
		}
	case TypeArray:
		if v.Type() != fastjson.TypeArray {
			return "expected a list, got " + describe(v)
		}
		for i, e := range v.GetArray() {
			if msg := d.checkValue(e, c.Items, true); msg != "" {
				return "item " + strconv.Itoa(i) + ": " + msg
			}
		}
	case TypeMap:
		if v.Type() != fastjson.TypeObject {
			return "expected an object (a map with string keys), got " + describe(v)
		}
		var msg string
		v.GetObject().Visit(func(k []byte, e *fastjson.Value) {
			if msg == "" {
				if m := d.checkValue(e, c.Values, true); m != "" {
					msg = "key " + quote(string(k)) + ": " + m
				}
			}
		})
		return msg
	case TypeObject:
		if v.Type() != fastjson.TypeObject {
			return "expected an object, got " + describe(v)
		}
		return d.checkObject(v.GetObject(), c.Properties)
	}
	return ""
}

// checkObject validates the keys and values of o against props, which are
// sorted by name: a binary search per key, and a mark per property found in
// d.seen (a window of it per nesting level) to tell the required ones that
// are missing.
func (d *scratch) checkObject(o *fastjson.Object, props []Property) string {
	base := len(d.seen)
	d.seen = append(d.seen, make([]bool, len(props))...)
	defer func() { d.seen = d.seen[:base] }()
	var msg string
	o.Visit(func(k []byte, e *fastjson.Value) {
		if msg != "" {
			return
		}
		i, ok := slices.BinarySearchFunc(props, b2s(k), func(pr Property, k string) int { return strings.Compare(pr.Name, k) })
		if !ok {
			msg = "unknown property " + quote(string(k))
			return
		}
		pr := &props[i]
		if m := d.checkValue(e, pr.Type, pr.Required); m != "" {
			msg = "property " + quote(pr.Name) + ": " + m
			return
		}
		d.seen[base+i] = true
	})
	if msg != "" {
		return msg
	}
	for i := range props {
		if props[i].Required && !d.seen[base+i] {
			return "missing required property " + quote(props[i].Name)
		}
	}
	return ""
}

// CheckInferParameter checks one parameter of a gRPC inference request
// against the signature's params schema, as checkParams checks a JSON
// request's: a name the schema does not have is ignored, and the value
// must have the param's type (integers widen to long, float and double; a
// string is a datetime when it reads as one). v is what the protocol's
// InferParameter carries: a bool, int64, uint64, float64 or string. A list
// or object param cannot be given this way.
func (p *Plan) CheckInferParameter(name string, v any) error {
	i := p.paramIndexOf([]byte(name))
	if i < 0 {
		return nil
	}
	ps := &p.params[i]
	if ps.Shape != nil || ps.Type == TypeObject {
		return invalidParam("params: %s is a list or object param, which a gRPC parameter cannot carry; send it over REST", quote(ps.Name))
	}
	ok := false
	switch x := v.(type) {
	case bool:
		ok = ps.Type == TypeBoolean
	case int64:
		switch ps.Type {
		case TypeInteger:
			ok = x >= math.MinInt32 && x <= math.MaxInt32
		case TypeLong, TypeFloat, TypeDouble:
			ok = true
		}
	case uint64:
		switch ps.Type {
		case TypeInteger:
			ok = x <= math.MaxInt32
		case TypeLong:
			ok = x <= math.MaxInt64
		case TypeFloat, TypeDouble:
			ok = true
		}
	case float64:
		ok = ps.Type == TypeFloat || ps.Type == TypeDouble
	case string:
		ok = ps.Type == TypeString || ps.Type == TypeDatetime && isDatetime(x)
	}
	if ok {
		return nil
	}
	return invalidParam("params: %s must be %s", quote(ps.Name), article(ps.Type.String()))
}
