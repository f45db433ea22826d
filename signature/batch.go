package signature

import (
	"context"
	"unsafe"

	"github.com/valyala/fastjson"
)

// A pooled Batch keeps its buffers for the next request. One that grew past
// these limits is dropped by PutBatch instead, so one huge request does not
// pin memory in the pool.
const (
	maxPooledBytes = 1 << 20
	maxPooledRows  = 4096
)

// scratch is a Batch's per-request working memory. Everything in it is
// reused across requests; slices only grow.
type scratch struct {
	plan   *Plan
	parser fastjson.Parser
	// num holds the text of the number being converted.
	num []byte
	// body holds a copy of the request when decoding needs one: a JSON body
	// with Infinity literals rewritten, or a CSV body.
	body []byte
	// text holds bytes that string feeds alias: decoded binary values and
	// unescaped CSV fields.
	text []byte

	// The request as a table: rows × nslots cells; slot[i] is the column
	// that field i reads, -1 when the request lacks it. keys names the
	// request's columns when it names them.
	rows   int
	nslots int
	cells  []*fastjson.Value
	spans  []span
	slot   []int
	keys   []string
	keyMap map[string]int
	// vals holds one value per field for tensor requests ("inputs" and
	// "instances" that are not records).
	vals  []*fastjson.Value
	shape []int64
	flat  []int64
	// seen marks the properties of the objects being validated.
	seen []bool

	// An inference request (FormatInfer): its tensors, the shapes they
	// slice, what it asks of the response, and the read position in the
	// raw BYTES data being converted.
	tensors []Tensor
	shapes  []int64
	infer   InferRequest
	rawPos  int

	// Request state.
	ctx context.Context // set only while decoding
	lim Limits
	// measured is the body's measure when known is set (the caller had
	// it); otherwise the decoder measures the body itself.
	measured Cost
	known    bool
	// ticks counts converted values, to look at ctx now and then.
	ticks int
	// budget is what remains of the scalars the body holds, for tensors
	// whose shape is inferred from their first items.
	budget int
	format string // the format key ("dataframe_split", ...), or "CSV"
	root   *fastjson.Value
	csv    bool
	df     bool // the request is a DataFrame (dataframe_split, dataframe_records, CSV)
	strict bool // "instances" records: every record must have the same keys

	// Sizes seen, for the pool's cap.
	maxBody   int
	maxRows   int
	maxValues int
}

// span is one CSV field: bytes [start, end) of scratch.body, or of
// scratch.text when inText is set.
type span struct {
	start, end int
	inText     bool
}

func (p *Plan) newBatch() *Batch {
	b := &Batch{Feeds: make([]Feed, len(p.inputs)), scratch: &scratch{plan: p}}
	for i, in := range p.inputs {
		b.Feeds[i] = Feed{Name: in.Name, DType: in.DType, Shape: make([]int64, 0, max(len(in.Shape), 1))}
	}
	s := b.scratch
	s.slot = make([]int, len(p.fields))
	s.vals = make([]*fastjson.Value, len(p.fields))
	return b
}

// GetBatch returns a reset Batch from the plan's pool. Return it with
// PutBatch once the response has been written.
func (p *Plan) GetBatch() *Batch {
	b := p.pool.Get().(*Batch)
	b.reset()
	return b
}

// PutBatch returns b to the pool. A batch that grew past the pool's size cap
// (1 MiB of backing data or 4096 rows) is dropped instead, so one huge
// request does not pin memory. b must not be used after PutBatch; a nil
// Batch or one from another Plan is ignored.
func (p *Plan) PutBatch(b *Batch) {
	if b == nil || b.scratch == nil || b.scratch.plan != p {
		return
	}
	if b.retained() > maxPooledBytes || b.scratch.maxRows > maxPooledRows {
		return
	}
	b.reset()
	p.pool.Put(b)
}

// reset empties b, keeping its buffers.
func (b *Batch) reset() {
	b.Rows = 0
	b.Records = false
	for i := range b.Feeds {
		f := &b.Feeds[i]
		f.Shape = f.Shape[:0]
		f.F32, f.F64, f.I32, f.I64, f.B = f.F32[:0], f.F64[:0], f.I32[:0], f.I64[:0], f.B[:0]
		clear(f.S)
		f.S = f.S[:0]
	}
	s := b.scratch
	clear(s.cells)
	clear(s.vals)
	s.cells = s.cells[:0]
	s.root = nil
	clear(s.tensors)
	s.tensors = s.tensors[:0]
	clear(s.infer.Outputs)
	s.infer = InferRequest{Outputs: s.infer.Outputs[:0]}
	s.rawPos = 0
}

// InferRequest returns what the inference request b holds asks of its
// response; it is empty for other formats. It belongs to b and is valid
// until b is decoded into again or returned with PutBatch.
func (b *Batch) InferRequest() *InferRequest { return &b.scratch.infer }

// retained estimates the bytes b keeps alive between requests.
func (b *Batch) retained() int {
	n := 0
	for i := range b.Feeds {
		f := &b.Feeds[i]
		n += 4*cap(f.F32) + 8*cap(f.F64) + 4*cap(f.I32) + 8*cap(f.I64) + cap(f.B) + 16*cap(f.S)
	}
	s := b.scratch
	n += int(unsafe.Sizeof(Tensor{}))*cap(s.tensors) + 8*cap(s.shapes) + 32*cap(s.infer.Outputs)
	n += cap(s.num) + cap(s.body) + cap(s.text) + cap(s.seen) +
		8*cap(s.cells) + int(unsafe.Sizeof(span{}))*cap(s.spans) + 16*cap(s.keys) +
		s.maxBody + // the parser's copy of the body
		int(unsafe.Sizeof(fastjson.Value{}))*max(valueCacheCap(&s.parser), s.maxValues) // and its values
	return n
}

// resize sets f's data length to n elements of its DType, reusing capacity.
func (f *Feed) resize(n int) {
	switch f.DType {
	case Float32:
		f.F32 = grow(f.F32, n)
	case Float64:
		f.F64 = grow(f.F64, n)
	case Int32:
		f.I32 = grow(f.I32, n)
	case Int64:
		f.I64 = grow(f.I64, n)
	case Bool:
		f.B = grow(f.B, n)
	case String:
		f.S = grow(f.S, n)
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// b2s returns b as a string without copying. The string aliases b.
func b2s(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
