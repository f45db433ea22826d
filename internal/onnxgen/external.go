package onnxgen

import (
	"crypto/sha1"
	"encoding/hex"
)

// DefaultExternalThreshold is onnx.save_model's size_threshold: initializers
// with at least this many bytes of raw data go to the external-data file.
const DefaultExternalThreshold = 1024

// externalAlign is the alignment of each tensor's offset in the external-data
// file. onnx.proto recommends page-size multiples so that a runtime can mmap
// the tensors; the gaps are zero bytes.
const externalAlign = 4096

// ExternalData is the one external-data file of a model: it sits next to
// model.onnx under Name, and the model's external initializers point into it.
type ExternalData struct {
	// Name is the file name: a UUID (RFC 4122 version 5) derived from Data,
	// so it looks like the uuid1 name onnx gives the file, without an
	// extension, yet is the same on every run.
	Name string
	Data []byte
}

// WithExternalData returns a copy of m whose initializers with at least
// minBytes of raw data (String tensors excepted) are moved, in graph order,
// into one external-data file, and that file. It returns m's copy and nil
// when no initializer qualifies. m itself is not modified; the copy shares
// the byte slices of the initializers that stay inline.
func (m *Model) WithExternalData(minBytes int) (*Model, *ExternalData) {
	out := *m
	out.Graph.Initializers = make([]Tensor, len(m.Graph.Initializers))
	copy(out.Graph.Initializers, m.Graph.Initializers)

	var data []byte
	var moved []int
	for i := range out.Graph.Initializers {
		t := &out.Graph.Initializers[i]
		if t.Type == String || t.External != nil || len(t.Raw) < minBytes {
			continue
		}
		if pad := len(data) % externalAlign; pad != 0 {
			data = append(data, make([]byte, externalAlign-pad)...)
		}
		t.External = &ExternalRef{Offset: int64(len(data)), Length: int64(len(t.Raw))}
		data = append(data, t.Raw...)
		t.Raw = nil
		moved = append(moved, i)
	}
	if len(moved) == 0 {
		return &out, nil
	}
	name := contentUUID(data)
	for _, i := range moved {
		out.Graph.Initializers[i].External.Location = name
	}
	return &out, &ExternalData{Name: name, Data: data}
}

// uuidNamespace is the RFC 4122 namespace of contentUUID's names: a fixed
// value chosen for mlgate. Changing it renames every external-data file.
var uuidNamespace = [16]byte{
	0x3d, 0x0e, 0x8b, 0x52, 0x6c, 0x1f, 0x5a, 0x1e,
	0x9b, 0x41, 0x2c, 0x8d, 0x74, 0xc6, 0x0f, 0x13,
}

// contentUUID returns the RFC 4122 version 5 (SHA-1, name-based) UUID of
// data in uuidNamespace, formatted 8-4-4-4-12 in lower-case hex.
func contentUUID(data []byte) string {
	h := sha1.New()
	h.Write(uuidNamespace[:])
	h.Write(data)
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:])
	return string(buf[:])
}
