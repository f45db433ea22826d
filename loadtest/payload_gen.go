package loadtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/mlgate/mlgate/signature"
)

// maxTensorElems bounds a generated tensor so that a shape typo cannot
// exhaust memory.
const maxTensorElems = 1 << 22

// maxNesting bounds nested array/object/map column types.
const maxNesting = 8

var words = [...]string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}

// valueGen writes random JSON values that fit MLflow types. It is not safe
// for concurrent use.
type valueGen struct {
	rng *rand.Rand
}

func newValueGen(seed uint64) *valueGen {
	return &valueGen{rng: rand.New(rand.NewPCG(seed, 0x6d6c67617465))}
}

func (g *valueGen) dataframeBody(cols []signature.ColSpec, rows int) ([]byte, error) {
	b := []byte(`{"dataframe_split": {`)
	if cols[0].Name != "" {
		b = append(b, `"columns": [`...)
		for i := range cols {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendJSONString(b, cols[i].Name)
		}
		b = append(b, "], "...)
	}
	b = append(b, `"data": [`...)
	for r := range rows {
		if r > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '[')
		for i := range cols {
			if i > 0 {
				b = append(b, ", "...)
			}
			var err error
			if b, err = g.appendColValue(b, &cols[i], 0); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	return append(b, "]}}"...), nil
}

func (g *valueGen) appendColValue(b []byte, c *signature.ColSpec, depth int) ([]byte, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("column %q: types nested deeper than %d", c.Name, maxNesting)
	}
	switch c.Type {
	case signature.TypeBoolean:
		return strconv.AppendBool(b, g.rng.IntN(2) == 1), nil
	case signature.TypeInteger:
		return strconv.AppendInt(b, int64(g.rng.IntN(100)), 10), nil
	case signature.TypeLong:
		return strconv.AppendInt(b, int64(g.rng.IntN(1000)), 10), nil
	case signature.TypeFloat:
		return appendDecimal(b, g.rng.IntN(10_000)), nil
	case signature.TypeDouble, signature.TypeAny:
		return appendDecimal(b, g.rng.IntN(100_000)), nil
	case signature.TypeString:
		return appendJSONString(b, words[g.rng.IntN(len(words))]), nil
	case signature.TypeBinary:
		var raw [6]byte
		for i := range raw {
			raw[i] = byte(g.rng.IntN(256))
		}
		return appendJSONString(b, base64.StdEncoding.EncodeToString(raw[:])), nil
	case signature.TypeDatetime:
		s := fmt.Sprintf("2025-%02d-%02dT%02d:%02d:%02d",
			1+g.rng.IntN(12), 1+g.rng.IntN(28), g.rng.IntN(24), g.rng.IntN(60), g.rng.IntN(60))
		return appendJSONString(b, s), nil
	case signature.TypeArray:
		if c.Items == nil {
			return nil, fmt.Errorf("array column %q has no item type", c.Name)
		}
		b = append(b, '[')
		for i := range 1 + g.rng.IntN(3) {
			if i > 0 {
				b = append(b, ", "...)
			}
			var err error
			if b, err = g.appendColValue(b, c.Items, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case signature.TypeObject:
		b = append(b, '{')
		for i, p := range c.Properties {
			if p.Type == nil {
				return nil, fmt.Errorf("object column %q: property %q has no type", c.Name, p.Name)
			}
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendJSONString(b, p.Name)
			b = append(b, ": "...)
			var err error
			if b, err = g.appendColValue(b, p.Type, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case signature.TypeMap:
		if c.Values == nil {
			return nil, fmt.Errorf("map column %q has no value type", c.Name)
		}
		b = append(b, '{')
		for i := range 2 {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendJSONString(b, "key"+strconv.Itoa(i))
			b = append(b, ": "...)
			var err error
			if b, err = g.appendColValue(b, c.Values, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("column %q: cannot generate values of type %v", c.Name, c.Type)
}

func (g *valueGen) tensorBody(ts []signature.TensorSpec, rows int) ([]byte, error) {
	b := []byte(`{"inputs": `)
	var err error
	if ts[0].Name == "" {
		if len(ts) > 1 {
			return nil, fmt.Errorf("signature has %d unnamed tensors; MLflow allows one", len(ts))
		}
		if b, err = g.appendTensor(b, &ts[0], rows); err != nil {
			return nil, err
		}
		return append(b, '}'), nil
	}
	b = append(b, '{')
	for i := range ts {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendJSONString(b, ts[i].Name)
		b = append(b, ": "...)
		if b, err = g.appendTensor(b, &ts[i], rows); err != nil {
			return nil, err
		}
	}
	return append(b, "}}"...), nil
}

func (g *valueGen) appendTensor(b []byte, t *signature.TensorSpec, rows int) ([]byte, error) {
	dims := make([]int, len(t.Shape))
	elems := 1
	for i, d := range t.Shape {
		switch {
		case d < 0 && i == 0:
			dims[i] = rows
		case d < 0:
			dims[i] = 1
		case d > maxTensorElems:
			return nil, fmt.Errorf("tensor %q: dimension %d is too large", t.Name, d)
		default:
			dims[i] = int(d)
		}
		elems *= max(dims[i], 1)
		if elems > maxTensorElems {
			return nil, fmt.Errorf("tensor %q: shape %v holds more than %d elements", t.Name, t.Shape, maxTensorElems)
		}
	}
	if t.DType == signature.DTypeInvalid || t.DType > signature.String {
		return nil, fmt.Errorf("tensor %q: cannot generate values of dtype %v", t.Name, t.DType)
	}
	return g.appendNested(b, t.DType, dims), nil
}

func (g *valueGen) appendNested(b []byte, dt signature.DType, dims []int) []byte {
	if len(dims) == 0 {
		return g.appendScalar(b, dt)
	}
	b = append(b, '[')
	for i := range dims[0] {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = g.appendNested(b, dt, dims[1:])
	}
	return append(b, ']')
}

func (g *valueGen) appendScalar(b []byte, dt signature.DType) []byte {
	switch dt {
	case signature.Float32:
		return appendDecimal(b, g.rng.IntN(10_000))
	case signature.Float64:
		return appendDecimal(b, g.rng.IntN(100_000))
	case signature.Bool:
		return strconv.AppendBool(b, g.rng.IntN(2) == 1)
	case signature.String:
		return appendJSONString(b, words[g.rng.IntN(len(words))])
	}
	// Integer dtypes: 0..99 fits every width, signed or not.
	return strconv.AppendInt(b, int64(g.rng.IntN(100)), 10)
}

// appendDecimal appends cents/100 with exactly two decimals, so the JSON
// number always reads as a float ("12.30", "0.05").
func appendDecimal(b []byte, cents int) []byte {
	b = strconv.AppendInt(b, int64(cents/100), 10)
	b = append(b, '.')
	c := cents % 100
	if c < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(c), 10)
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
