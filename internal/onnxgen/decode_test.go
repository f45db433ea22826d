package onnxgen

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file is a strict ONNX decoder for the tests: it parses ModelProto
// bytes with protowire back into a Model and rejects any field the package
// does not write, so a wrong field number shows up as an error.

// field is one decoded protobuf field.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64 // varint and fixed32 values
	b   []byte // length-delimited values
}

// fields splits a message into its fields.
func fields(b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.u = uint64(v)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			return nil, fmt.Errorf("field %d: unexpected wire type %d", num, typ)
		}
		if n < 0 {
			return nil, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		out = append(out, f)
	}
	return out, nil
}

// decodeFields calls fn for every field of msg; fn returns false for a field
// it does not know.
func decodeFields(what string, msg []byte, fn func(f field) (bool, error)) error {
	fs, err := fields(msg)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for _, f := range fs {
		known, err := fn(f)
		if err != nil {
			return fmt.Errorf("%s field %d: %w", what, f.num, err)
		}
		if !known {
			return fmt.Errorf("%s: unknown field %d (wire type %d)", what, f.num, f.typ)
		}
	}
	return nil
}

func wantType(f field, t protowire.Type) error {
	if f.typ != t {
		return fmt.Errorf("wire type %d; want %d", f.typ, t)
	}
	return nil
}

func decodeModel(b []byte) (*Model, error) {
	m := &Model{}
	err := decodeFields("model", b, func(f field) (bool, error) {
		var err error
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			m.IRVersion = int64(f.u)
		case f.num == 2 && f.typ == protowire.BytesType:
			m.ProducerName = string(f.b)
		case f.num == 3 && f.typ == protowire.BytesType:
			m.ProducerVersion = string(f.b)
		case f.num == 4 && f.typ == protowire.BytesType:
			m.Domain = string(f.b)
		case f.num == 5 && f.typ == protowire.VarintType:
			m.ModelVersion = int64(f.u)
		case f.num == 6 && f.typ == protowire.BytesType:
			m.Doc = string(f.b)
		case f.num == 7 && f.typ == protowire.BytesType:
			err = decodeGraph(f.b, &m.Graph)
		case f.num == 8 && f.typ == protowire.BytesType:
			var o OpsetID
			err = decodeFields("opset_import", f.b, func(f field) (bool, error) {
				switch {
				case f.num == 1 && f.typ == protowire.BytesType:
					o.Domain = string(f.b)
				case f.num == 2 && f.typ == protowire.VarintType:
					o.Version = int64(f.u)
				default:
					return false, nil
				}
				return true, nil
			})
			m.Opsets = append(m.Opsets, o)
		case f.num == 14 && f.typ == protowire.BytesType:
			var kv KeyValue
			kv, err = decodeKeyValue(f.b)
			m.Metadata = append(m.Metadata, kv)
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func decodeKeyValue(b []byte) (KeyValue, error) {
	var kv KeyValue
	err := decodeFields("string entry", b, func(f field) (bool, error) {
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			kv.Key = string(f.b)
		case f.num == 2 && f.typ == protowire.BytesType:
			kv.Value = string(f.b)
		default:
			return false, nil
		}
		return true, nil
	})
	return kv, err
}

func decodeGraph(b []byte, g *Graph) error {
	return decodeFields("graph", b, func(f field) (bool, error) {
		if f.typ != protowire.BytesType {
			return false, nil
		}
		var err error
		switch f.num {
		case 1:
			var n Node
			err = decodeNode(f.b, &n)
			g.Nodes = append(g.Nodes, n)
		case 2:
			g.Name = string(f.b)
		case 5:
			var t Tensor
			err = decodeTensor(f.b, &t)
			g.Initializers = append(g.Initializers, t)
		case 10:
			g.Doc = string(f.b)
		case 11, 12, 13:
			var v ValueInfo
			err = decodeValueInfo(f.b, &v)
			switch f.num {
			case 11:
				g.Inputs = append(g.Inputs, v)
			case 12:
				g.Outputs = append(g.Outputs, v)
			default:
				g.ValueInfo = append(g.ValueInfo, v)
			}
		default:
			return false, nil
		}
		return true, err
	})
}

func decodeNode(b []byte, n *Node) error {
	return decodeFields("node", b, func(f field) (bool, error) {
		if f.typ != protowire.BytesType {
			return false, nil
		}
		switch f.num {
		case 1:
			n.Inputs = append(n.Inputs, string(f.b))
		case 2:
			n.Outputs = append(n.Outputs, string(f.b))
		case 3:
			n.Name = string(f.b)
		case 4:
			n.OpType = string(f.b)
		case 5:
			var a Attribute
			if err := decodeAttribute(f.b, &a); err != nil {
				return true, err
			}
			n.Attrs = append(n.Attrs, a)
		case 6:
			n.Doc = string(f.b)
		case 7:
			n.Domain = string(f.b)
		default:
			return false, nil
		}
		return true, nil
	})
}

func decodeAttribute(b []byte, a *Attribute) error {
	return decodeFields("attribute", b, func(f field) (bool, error) {
		switch f.num {
		case 1:
			a.Name = string(f.b)
			return true, wantType(f, protowire.BytesType)
		case 2:
			a.F = math.Float32frombits(uint32(f.u))
			return true, wantType(f, protowire.Fixed32Type)
		case 3:
			a.I = int64(f.u)
			return true, wantType(f, protowire.VarintType)
		case 4:
			a.S = f.b
			return true, wantType(f, protowire.BytesType)
		case 5:
			var t Tensor
			a.T = &t
			if err := wantType(f, protowire.BytesType); err != nil {
				return true, err
			}
			return true, decodeTensor(f.b, &t)
		case 7:
			a.Floats = append(a.Floats, math.Float32frombits(uint32(f.u)))
			return true, wantType(f, protowire.Fixed32Type)
		case 8:
			a.Ints = append(a.Ints, int64(f.u))
			return true, wantType(f, protowire.VarintType)
		case 9:
			a.Strings = append(a.Strings, f.b)
			return true, wantType(f, protowire.BytesType)
		case 13:
			a.Doc = string(f.b)
			return true, wantType(f, protowire.BytesType)
		case 20:
			a.Type = AttrType(f.u)
			return true, wantType(f, protowire.VarintType)
		}
		return false, nil
	})
}

func decodeTensor(b []byte, t *Tensor) error {
	var ext []KeyValue
	external := false
	err := decodeFields("tensor", b, func(f field) (bool, error) {
		switch f.num {
		case 1:
			t.Dims = append(t.Dims, int64(f.u))
			return true, wantType(f, protowire.VarintType)
		case 2:
			t.Type = DataType(f.u)
			return true, wantType(f, protowire.VarintType)
		case 6:
			t.Strings = append(t.Strings, f.b)
			return true, wantType(f, protowire.BytesType)
		case 8:
			t.Name = string(f.b)
			return true, wantType(f, protowire.BytesType)
		case 9:
			t.Raw = f.b
			if t.Raw == nil {
				t.Raw = []byte{}
			}
			return true, wantType(f, protowire.BytesType)
		case 12:
			t.Doc = string(f.b)
			return true, wantType(f, protowire.BytesType)
		case 13:
			kv, err := decodeKeyValue(f.b)
			ext = append(ext, kv)
			return true, err
		case 14:
			external = f.u == 1
			return true, wantType(f, protowire.VarintType)
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	if external != (len(ext) > 0) {
		return fmt.Errorf("tensor %s: data_location and external_data disagree", t.Name)
	}
	if external {
		var e ExternalRef
		for _, kv := range ext {
			var perr error
			switch kv.Key {
			case "location":
				e.Location = kv.Value
			case "offset":
				_, perr = fmt.Sscan(kv.Value, &e.Offset)
			case "length":
				_, perr = fmt.Sscan(kv.Value, &e.Length)
			default:
				perr = fmt.Errorf("unknown key %q", kv.Key)
			}
			if perr != nil {
				return fmt.Errorf("tensor %s external data: %w", t.Name, perr)
			}
		}
		t.External = &e
	}
	return nil
}

func decodeValueInfo(b []byte, v *ValueInfo) error {
	return decodeFields("value info", b, func(f field) (bool, error) {
		if f.typ != protowire.BytesType {
			return false, nil
		}
		switch f.num {
		case 1:
			v.Name = string(f.b)
		case 2:
			return true, decodeType(f.b, &v.Type)
		case 3:
			v.Doc = string(f.b)
		default:
			return false, nil
		}
		return true, nil
	})
}

func decodeType(b []byte, t *Type) error {
	return decodeFields("type", b, func(f field) (bool, error) {
		if f.typ != protowire.BytesType {
			return false, nil
		}
		switch f.num {
		case 1:
			t.Kind = TensorKind
			return true, decodeFields("tensor type", f.b, func(f field) (bool, error) {
				switch {
				case f.num == 1 && f.typ == protowire.VarintType:
					t.Elem = DataType(f.u)
				case f.num == 2 && f.typ == protowire.BytesType:
					t.HasShape = true
					return true, decodeFields("shape", f.b, func(f field) (bool, error) {
						if f.num != 1 || f.typ != protowire.BytesType {
							return false, nil
						}
						d := Dim{Value: -1}
						err := decodeFields("dim", f.b, func(f field) (bool, error) {
							switch {
							case f.num == 1 && f.typ == protowire.VarintType:
								d.Value = int64(f.u)
							case f.num == 2 && f.typ == protowire.BytesType:
								d.Param = string(f.b)
								d.Value = 0
							default:
								return false, nil
							}
							return true, nil
						})
						t.Shape = append(t.Shape, d)
						return true, err
					})
				default:
					return false, nil
				}
				return true, nil
			})
		case 4:
			t.Kind = SequenceKind
			return true, decodeFields("sequence type", f.b, func(f field) (bool, error) {
				if f.num != 1 || f.typ != protowire.BytesType {
					return false, nil
				}
				t.Value = &Type{}
				return true, decodeType(f.b, t.Value)
			})
		case 5:
			t.Kind = MapKind
			return true, decodeFields("map type", f.b, func(f field) (bool, error) {
				switch {
				case f.num == 1 && f.typ == protowire.VarintType:
					t.Elem = DataType(f.u)
				case f.num == 2 && f.typ == protowire.BytesType:
					t.Value = &Type{}
					return true, decodeType(f.b, t.Value)
				default:
					return false, nil
				}
				return true, nil
			})
		}
		return false, nil
	})
}
