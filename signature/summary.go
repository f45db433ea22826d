package signature

import (
	"encoding/json"
	"strings"
)

// Summary returns a one-line description of s, e.g.
// "inputs: tenure long, monthly_charges double -> outputs: probability float"
// or "inputs: tensor float32 (-1, 4) -> outputs: probability float32 (-1, 1)".
// Optional columns are marked "(optional)"; params, when present, follow
// after "; params: ". A nil Signature is "no signature".
func (s *Signature) Summary() string {
	if s == nil {
		return "no signature"
	}
	var sb strings.Builder
	sb.WriteString("inputs: ")
	writeSchema(&sb, s.Inputs)
	sb.WriteString(" -> outputs: ")
	writeSchema(&sb, s.Outputs)
	if len(s.Params) > 0 {
		sb.WriteString("; params: ")
		for i := range s.Params {
			if i > 0 {
				sb.WriteString(", ")
			}
			ps := &s.Params[i]
			sb.WriteString(ps.Name)
			sb.WriteByte(' ')
			if ps.Type == TypeObject {
				sb.WriteString(typeString(&ColSpec{Type: TypeObject, Properties: ps.Properties}))
			} else {
				sb.WriteString(ps.Type.String())
			}
			if ps.Shape != nil {
				sb.WriteString("[]")
			}
			if ps.Default != nil {
				if b, err := json.Marshal(ps.Default); err == nil {
					sb.WriteString(" = ")
					sb.Write(b)
				}
			}
		}
	}
	return sb.String()
}

func writeSchema(sb *strings.Builder, s *Schema) {
	switch {
	case s == nil || len(s.Columns)+len(s.Tensors) == 0:
		sb.WriteString("none")
	case s.IsTensor():
		for i := range s.Tensors {
			if i > 0 {
				sb.WriteString(", ")
			}
			t := &s.Tensors[i]
			if t.Name == "" {
				sb.WriteString("tensor")
			} else {
				sb.WriteString(t.Name)
			}
			sb.WriteByte(' ')
			sb.WriteString(t.DType.String())
			sb.WriteByte(' ')
			sb.WriteString(shapeString(t.Shape))
		}
	default:
		for i := range s.Columns {
			if i > 0 {
				sb.WriteString(", ")
			}
			c := &s.Columns[i]
			if c.Name != "" {
				sb.WriteString(c.Name)
				sb.WriteByte(' ')
			}
			sb.WriteString(typeString(c))
			if !c.Required {
				sb.WriteString(" (optional)")
			}
		}
	}
}

// typeString writes a column type: "long", "array<string>",
// "map<string, double>", "object{a: long, b: string (optional)}".
func typeString(c *ColSpec) string {
	if c == nil {
		return "invalid"
	}
	switch c.Type {
	case TypeArray:
		return "array<" + typeString(c.Items) + ">"
	case TypeMap:
		return "map<string, " + typeString(c.Values) + ">"
	case TypeObject:
		var sb strings.Builder
		sb.WriteString("object{")
		for i := range c.Properties {
			if i > 0 {
				sb.WriteString(", ")
			}
			pr := &c.Properties[i]
			sb.WriteString(pr.Name)
			sb.WriteString(": ")
			sb.WriteString(typeString(pr.Type))
			if !pr.Required {
				sb.WriteString(" (optional)")
			}
		}
		sb.WriteByte('}')
		return sb.String()
	}
	return c.Type.String()
}
