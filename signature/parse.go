package signature

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ParseSignature parses a signature from MLmodel's JSON strings (the
// "inputs", "outputs" and "params" values of its signature map). An empty
// string or "null" means the part is absent. It checks MLflow's rules: a
// schema is a non-empty list whose entries are all column specs or all
// tensor specs, all named or all unnamed, with unique names; at most one
// unnamed tensor; no unnamed optional column; known types only (sized
// string dtypes such as "<U10" are refused). Each part may be at most
// MaxMLmodelBytes long, nest at most MaxSignatureDepth deep and hold at most
// MaxColumns entries. Errors name the entry. Parsing takes time linear in
// the size of the text.
func ParseSignature(inputs, outputs, params string) (*Signature, error) {
	var sig Signature
	var err error
	if sig.Inputs, err = parseSchema("inputs", inputs); err != nil {
		return nil, err
	}
	if sig.Outputs, err = parseSchema("outputs", outputs); err != nil {
		return nil, err
	}
	if sig.Params, err = parseParams(params); err != nil {
		return nil, err
	}
	return &sig, nil
}

// absent reports whether a signature part is missing.
func absent(s string) bool {
	s = strings.TrimSpace(s)
	return s == "" || s == "null"
}

// rawType is one entry of a signature, or a nested type of a complex one.
type rawType struct {
	Type       json.RawMessage     `json:"type"`
	Name       *string             `json:"name"`
	Required   *bool               `json:"required"`
	Items      *rawType            `json:"items"`
	Properties map[string]*rawType `json:"properties"`
	Values     *rawType            `json:"values"`
	TensorSpec *struct {
		DType string  `json:"dtype"`
		Shape []int64 `json:"shape"`
	} `json:"tensor-spec"`
}

func (r *rawType) typeName() string {
	var s string
	if json.Unmarshal(r.Type, &s) != nil {
		return ""
	}
	return s
}

// decodeStrict decodes text, one JSON value of at most MaxMLmodelBytes
// nested at most MaxSignatureDepth deep, into v.
func decodeStrict(text string, v any) error {
	if len(text) > MaxMLmodelBytes {
		return errors.New(tooMany(len(text), "bytes", MaxMLmodelBytes, "MaxMLmodelBytes"))
	}
	if _, err := scanJSON([]byte(text), MaxSignatureDepth); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return errors.New(e.Message)
		}
		return err
	}
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("extra data after the JSON value")
	}
	return nil
}

func parseSchema(part, text string) (*Schema, error) {
	if absent(text) {
		return nil, nil
	}
	var raw []*rawType
	if err := decodeStrict(text, &raw); err != nil {
		return nil, fmt.Errorf("signature %s: %w", part, err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("signature %s: the list is empty", part)
	}
	if len(raw) > MaxColumns {
		return nil, fmt.Errorf("signature %s: %s", part, tooMany(len(raw), "entries", MaxColumns, "MaxColumns"))
	}
	var s Schema
	tensor := false
	named := false
	seen := make(map[string]struct{}, len(raw))
	for i, r := range raw {
		if r == nil {
			return nil, fmt.Errorf("signature %s[%d]: null entry", part, i)
		}
		what := fmt.Sprintf("signature %s[%d]", part, i)
		name := ""
		if r.Name != nil {
			name = *r.Name
			what += " (" + quote(name) + ")"
		}
		isTensor := r.typeName() == "tensor"
		if i == 0 {
			tensor, named = isTensor, name != ""
		}
		if isTensor != tensor {
			return nil, fmt.Errorf("%s: a schema cannot mix tensor and column specs", what)
		}
		if (name != "") != named {
			return nil, fmt.Errorf("%s: entries must be all named or all unnamed", what)
		}
		if name != "" {
			if _, dup := seen[name]; dup {
				return nil, fmt.Errorf("%s: the name is used twice", what)
			}
			seen[name] = struct{}{}
		}
		if tensor {
			t, err := parseTensorSpec(r)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			t.Name = name
			s.Tensors = append(s.Tensors, t)
			continue
		}
		c, err := parseColType(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		c.Name = name
		if !named && !c.Required {
			return nil, fmt.Errorf("%s: unnamed optional columns are not allowed", what)
		}
		s.Columns = append(s.Columns, *c)
	}
	if tensor && !named && len(s.Tensors) > 1 {
		return nil, fmt.Errorf("signature %s: %d unnamed tensors; a schema may have only one unnamed tensor", part, len(s.Tensors))
	}
	return &s, nil
}

func parseTensorSpec(r *rawType) (TensorSpec, error) {
	if r.TensorSpec == nil {
		return TensorSpec{}, errors.New(`tensor spec has no "tensor-spec"`)
	}
	dt, err := ParseDType(r.TensorSpec.DType)
	if err != nil {
		return TensorSpec{}, err
	}
	for _, d := range r.TensorSpec.Shape {
		if d < -1 {
			return TensorSpec{}, fmt.Errorf("shape %s has a negative dimension other than -1", shapeString(r.TensorSpec.Shape))
		}
	}
	shape := r.TensorSpec.Shape
	if shape == nil {
		shape = []int64{}
	}
	return TensorSpec{DType: dt, Shape: shape}, nil
}

// ParseDType parses a numpy dtype name as MLflow writes it in tensor specs
// (np.dtype(...).name). "str", "object" and "bytes" are String. Sized
// flexible types such as "<U10", and types mlgate cannot feed to a model
// (float16, datetime64, complex), are errors.
func ParseDType(name string) (DType, error) {
	switch name {
	case "str", "object", "bytes":
		return String, nil
	}
	for d := Float32; d <= Bool; d++ {
		if d.String() == name {
			return d, nil
		}
	}
	if name != "" && strings.ContainsAny(name[:1], "<>|=") {
		return DTypeInvalid, fmt.Errorf("sized dtype %s is not supported; use str or object", quote(name))
	}
	return DTypeInvalid, fmt.Errorf("unsupported tensor dtype %s", quote(name))
}

// parseDataType parses a basic column type name.
func parseDataType(name string) DataType {
	for t := TypeBoolean; t <= TypeAny; t++ {
		if t.String() == name {
			return t
		}
	}
	return TypeInvalid
}

// parseColType parses a column type: a basic type, or array, object, map
// and any. "required" defaults to true.
func parseColType(r *rawType) (*ColSpec, error) {
	name := r.typeName()
	t := parseDataType(name)
	c := &ColSpec{Type: t, Required: r.Required == nil || *r.Required}
	switch t {
	case TypeInvalid:
		if name == "" {
			if len(bytes.TrimSpace(r.Type)) == 0 {
				return nil, errors.New(`no "type"`)
			}
			return nil, fmt.Errorf("type %s is not a type name", quoteRaw(string(r.Type)))
		}
		if name == "sparkml_vector" {
			return nil, errors.New("type sparkml_vector is not supported")
		}
		return nil, fmt.Errorf("unknown type %s", quote(name))
	case TypeArray:
		if r.Items == nil {
			return nil, errors.New(`array type has no "items"`)
		}
		items, err := parseColType(r.Items)
		if err != nil {
			return nil, fmt.Errorf("array items: %w", err)
		}
		c.Items = items
	case TypeMap:
		if r.Values == nil {
			return nil, errors.New(`map type has no "values"`)
		}
		values, err := parseColType(r.Values)
		if err != nil {
			return nil, fmt.Errorf("map values: %w", err)
		}
		c.Values = values
	case TypeObject:
		props, err := parseProperties(r.Properties)
		if err != nil {
			return nil, err
		}
		c.Properties = props
	}
	return c, nil
}

func parseProperties(raw map[string]*rawType) ([]Property, error) {
	if len(raw) == 0 {
		return nil, errors.New(`object type has no "properties"`)
	}
	if len(raw) > MaxColumns {
		return nil, errors.New("object type: " + tooMany(len(raw), "properties", MaxColumns, "MaxColumns"))
	}
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	props := make([]Property, 0, len(names))
	for _, n := range names {
		r := raw[n]
		if r == nil {
			return nil, fmt.Errorf("property %s: null", quote(n))
		}
		t, err := parseColType(r)
		if err != nil {
			return nil, fmt.Errorf("property %s: %w", quote(n), err)
		}
		props = append(props, Property{Name: n, Type: t, Required: t.Required})
	}
	return props, nil
}

type rawParam struct {
	Name       *string             `json:"name"`
	Type       string              `json:"type"`
	Default    json.RawMessage     `json:"default"`
	Shape      []int64             `json:"shape"`
	Properties map[string]*rawType `json:"properties"`
}

func parseParams(text string) ([]ParamSpec, error) {
	if absent(text) {
		return nil, nil
	}
	var raw []*rawParam
	if err := decodeStrict(text, &raw); err != nil {
		return nil, fmt.Errorf("signature params: %w", err)
	}
	if len(raw) > MaxColumns {
		return nil, fmt.Errorf("signature params: %s", tooMany(len(raw), "entries", MaxColumns, "MaxColumns"))
	}
	params := make([]ParamSpec, 0, len(raw))
	seen := make(map[string]struct{}, len(raw))
	for i, r := range raw {
		if r == nil || r.Name == nil || *r.Name == "" {
			return nil, fmt.Errorf("signature params[%d]: no name", i)
		}
		what := fmt.Sprintf("signature params[%d] (%s)", i, quote(*r.Name))
		if _, dup := seen[*r.Name]; dup {
			return nil, fmt.Errorf("%s: the name is used twice", what)
		}
		seen[*r.Name] = struct{}{}
		ps := ParamSpec{Name: *r.Name, Type: parseDataType(r.Type)}
		switch ps.Type {
		case TypeInvalid, TypeArray, TypeMap, TypeAny:
			return nil, fmt.Errorf("%s: unsupported param type %s", what, quote(r.Type))
		case TypeBinary:
			return nil, fmt.Errorf("%s: binary params are not allowed", what)
		case TypeObject:
			props, err := parseProperties(r.Properties)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			ps.Properties = props
		}
		switch {
		case r.Shape == nil:
		case len(r.Shape) == 1 && r.Shape[0] == -1:
			ps.Shape = []int64{-1}
		default:
			return nil, fmt.Errorf("%s: shape must be null or [-1], got %s", what, shapeString(r.Shape))
		}
		if len(r.Default) > 0 {
			if err := json.Unmarshal(r.Default, &ps.Default); err != nil {
				return nil, fmt.Errorf("%s: default: %w", what, err)
			}
		}
		params = append(params, ps)
	}
	return params, nil
}
