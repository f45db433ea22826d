package onnxgen

import (
	"math"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// Marshal encodes m as an ONNX ModelProto. The bytes depend only on m: the
// encoding follows the onnx Python package's (proto2) serialization, with
// every field in field-number order and repeated scalars unpacked, so a
// model built the way an exporter built it marshals to the exporter's bytes.
func (m *Model) Marshal() []byte {
	var b []byte
	ir := m.IRVersion
	if ir == 0 {
		ir = DefaultIRVersion
	}
	b = appendInt(b, 1, ir)
	b = appendNonEmpty(b, 2, m.ProducerName)
	b = appendNonEmpty(b, 3, m.ProducerVersion)
	b = appendNonEmpty(b, 4, m.Domain)
	if m.ModelVersion != 0 {
		b = appendInt(b, 5, m.ModelVersion)
	}
	b = appendNonEmpty(b, 6, m.Doc)
	b = appendMessage(b, 7, m.Graph.appendProto(nil))
	opsets := m.Opsets
	if opsets == nil {
		opsets = DefaultOpsets()
	}
	for _, o := range opsets {
		var ob []byte
		ob = appendString(ob, 1, o.Domain)
		ob = appendInt(ob, 2, o.Version)
		b = appendMessage(b, 8, ob)
	}
	for _, kv := range m.Metadata {
		b = appendMessage(b, 14, kv.appendProto(nil))
	}
	return b
}

func (g *Graph) appendProto(b []byte) []byte {
	for i := range g.Nodes {
		b = appendMessage(b, 1, g.Nodes[i].appendProto(nil))
	}
	b = appendNonEmpty(b, 2, g.Name)
	for i := range g.Initializers {
		b = appendMessage(b, 5, g.Initializers[i].appendProto(nil))
	}
	b = appendNonEmpty(b, 10, g.Doc)
	for i := range g.Inputs {
		b = appendMessage(b, 11, g.Inputs[i].appendProto(nil))
	}
	for i := range g.Outputs {
		b = appendMessage(b, 12, g.Outputs[i].appendProto(nil))
	}
	for i := range g.ValueInfo {
		b = appendMessage(b, 13, g.ValueInfo[i].appendProto(nil))
	}
	return b
}

func (n *Node) appendProto(b []byte) []byte {
	for _, in := range n.Inputs {
		b = appendString(b, 1, in)
	}
	for _, out := range n.Outputs {
		b = appendString(b, 2, out)
	}
	b = appendNonEmpty(b, 3, n.Name)
	b = appendString(b, 4, n.OpType)
	for i := range n.Attrs {
		b = appendMessage(b, 5, n.Attrs[i].appendProto(nil))
	}
	b = appendNonEmpty(b, 6, n.Doc)
	b = appendNonEmpty(b, 7, n.Domain)
	return b
}

func (a *Attribute) appendProto(b []byte) []byte {
	b = appendString(b, 1, a.Name)
	switch a.Type {
	case AttrFloat:
		b = appendFloat(b, 2, a.F)
	case AttrInt:
		b = appendInt(b, 3, a.I)
	case AttrString:
		b = appendBytes(b, 4, a.S)
	case AttrTensor:
		if a.T != nil {
			b = appendMessage(b, 5, a.T.appendProto(nil))
		}
	case AttrFloats:
		for _, f := range a.Floats {
			b = appendFloat(b, 7, f)
		}
	case AttrInts:
		for _, i := range a.Ints {
			b = appendInt(b, 8, i)
		}
	case AttrStrings:
		for _, s := range a.Strings {
			b = appendBytes(b, 9, s)
		}
	}
	b = appendNonEmpty(b, 13, a.Doc)
	b = appendInt(b, 20, int64(a.Type))
	return b
}

func (t *Tensor) appendProto(b []byte) []byte {
	for _, d := range t.Dims {
		b = appendInt(b, 1, d)
	}
	b = appendInt(b, 2, int64(t.Type))
	for _, s := range t.Strings {
		b = appendBytes(b, 6, s)
	}
	b = appendString(b, 8, t.Name)
	if t.External == nil && t.Type != String {
		b = appendBytes(b, 9, t.Raw)
	}
	b = appendNonEmpty(b, 12, t.Doc)
	if e := t.External; e != nil {
		for _, kv := range [...]KeyValue{
			{"location", e.Location},
			{"offset", strconv.FormatInt(e.Offset, 10)},
			{"length", strconv.FormatInt(e.Length, 10)},
		} {
			b = appendMessage(b, 13, kv.appendProto(nil))
		}
		b = appendInt(b, 14, 1) // DataLocation EXTERNAL
	}
	return b
}

func (v *ValueInfo) appendProto(b []byte) []byte {
	b = appendString(b, 1, v.Name)
	if v.Type.Kind != 0 {
		b = appendMessage(b, 2, v.Type.appendProto(nil))
	}
	b = appendNonEmpty(b, 3, v.Doc)
	return b
}

func (t *Type) appendProto(b []byte) []byte {
	switch t.Kind {
	case TensorKind:
		var tb []byte
		tb = appendInt(tb, 1, int64(t.Elem))
		if t.HasShape {
			var sb []byte
			for _, d := range t.Shape {
				sb = appendMessage(sb, 1, d.appendProto(nil))
			}
			tb = appendMessage(tb, 2, sb)
		}
		b = appendMessage(b, 1, tb)
	case SequenceKind:
		var sb []byte
		if t.Value != nil {
			sb = appendMessage(sb, 1, t.Value.appendProto(nil))
		}
		b = appendMessage(b, 4, sb)
	case MapKind:
		var mb []byte
		mb = appendInt(mb, 1, int64(t.Elem))
		if t.Value != nil {
			mb = appendMessage(mb, 2, t.Value.appendProto(nil))
		}
		b = appendMessage(b, 5, mb)
	}
	return b
}

func (d Dim) appendProto(b []byte) []byte {
	switch {
	case d.Param != "":
		b = appendString(b, 2, d.Param)
	case d.Value >= 0:
		b = appendInt(b, 1, d.Value)
	}
	return b
}

func (kv *KeyValue) appendProto(b []byte) []byte {
	b = appendString(b, 1, kv.Key)
	b = appendString(b, 2, kv.Value)
	return b
}

// appendInt writes an int32/int64/enum field; negative values take ten
// bytes, as protobuf's two's-complement varint encoding requires.
func appendInt(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func appendFloat(b []byte, num protowire.Number, f float32) []byte {
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, math.Float32bits(f))
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendNonEmpty(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(b, num, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	return appendBytes(b, num, msg)
}
