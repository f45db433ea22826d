package signature

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Plan is a signature compiled against a model graph's inputs. It decodes
// requests into feeds for those inputs. Plans are made by Compile. A Plan is
// immutable and safe for concurrent use; the Batches it hands out are not.
type Plan struct {
	sig    *Signature
	inputs []GraphTensor
	mode   planMode
	// named reports whether fields are matched to request columns, keys and
	// tensors by name.
	named bool
	// packed reports, for a column-based signature, that every column feeds
	// graph input 0 as its trailing dimension, in signature order.
	packed bool
	// hasComplex reports that a column has an array or object type, which
	// makes an "inputs" object a single record.
	hasComplex bool
	fields     []field
	index      map[string]int
	params     []ParamSpec
	// paramIndex maps param names to params when there are more than
	// linearKeys of them.
	paramIndex map[string]int
	// inputIndex maps graph input names to their position.
	inputIndex map[string]int
	// rowWidth is the number of values one row of a request carries; see
	// RowWidth.
	rowWidth int
	pool     sync.Pool
}

type planMode uint8

const (
	modeColumns planMode = iota + 1 // column-based signature
	modeTensors                     // tensor-based signature
	modeGraph                       // no input signature: the graph inputs are the schema
)

// field is one entry of the request schema: a signature column, a signature
// tensor or (without a signature) a graph input.
type field struct {
	name     string
	required bool
	// col is the column spec of a column-based signature; nil otherwise.
	col *ColSpec
	// src is the element type a value is converted to first, as the scoring
	// server's pre-cast does; DTypeInvalid for columns that are only
	// validated (datetime and complex types).
	src DType
	// binary marks a binary column: base64 text decoded to bytes.
	binary bool
	// shape is a tensor's expected shape: the signature's, with the graph's
	// fixed dimensions filled in.
	shape []int64
	// feed is the index of the graph input this field feeds; -1 when the
	// field is only validated.
	feed int
	// offset is a packed column's position in the trailing dimension.
	offset int
}

// label names the field in error messages.
func (f *field) label() string {
	kind := "input"
	if f.col != nil {
		kind = "column"
	}
	if f.name == "" {
		return "the unnamed " + kind
	}
	return kind + " " + quote(f.name)
}

// Compile checks that sig fits the graph whose inputs are given and returns
// the Plan that feeds them, following the ONNX flavor of MLflow:
//
//   - a column-based signature and a graph with one input: every column
//     feeds that input, in signature order, as its trailing dimension
//     ((-1, ncols), or (-1) for a single column);
//   - a graph with several inputs: graph inputs are matched by name to
//     signature columns or tensors; columns that match no input are still
//     validated;
//   - a tensor-based signature: each named tensor feeds the graph input of
//     its name; a single unnamed tensor feeds the single graph input;
//   - sig nil (or without inputs): the graph inputs are the schema, as named
//     tensors of the graph's element types and shapes.
//
// Values are converted to each graph input's element type; float64 (and a
// double column) feeding a float32 input is rounded to float32. Supported
// graph element types are float32, float64, int32, int64, bool and string.
// An error names the mismatch, e.g. a signature column with no graph input,
// a graph dimension that disagrees with the signature, or an element type
// the graph cannot take. A graph may have at most MaxColumns inputs.
// Compile takes time linear in the number of inputs and columns, and keeps
// no reference to inputs or its shapes.
func Compile(sig *Signature, inputs []GraphTensor) (*Plan, error) {
	if len(inputs) == 0 {
		return nil, errors.New("model graph has no inputs")
	}
	if len(inputs) > MaxColumns {
		return nil, errors.New("model graph has " + tooMany(len(inputs), "inputs", MaxColumns, "MaxColumns"))
	}
	p := &Plan{sig: sig, inputs: make([]GraphTensor, len(inputs)), inputIndex: make(map[string]int, len(inputs))}
	for i, in := range inputs {
		p.inputs[i] = GraphTensor{Name: in.Name, DType: in.DType, Shape: append([]int64(nil), in.Shape...)}
		if !graphDType(in.DType) {
			return nil, fmt.Errorf("graph input %q: element type %s is not supported (supported: float32, float64, int32, int64, bool, string)", in.Name, in.DType)
		}
		if j, dup := p.inputIndex[in.Name]; dup {
			return nil, fmt.Errorf("graph inputs %d and %d are both named %q", j, i, in.Name)
		}
		p.inputIndex[in.Name] = i
	}
	if sig != nil {
		p.params = sig.Params
		if len(p.params) > linearKeys {
			p.paramIndex = make(map[string]int, len(p.params))
			for i := range p.params {
				p.paramIndex[p.params[i].Name] = i
			}
		}
	}
	var err error
	switch {
	case sig == nil || sig.Inputs == nil || len(sig.Inputs.Columns)+len(sig.Inputs.Tensors) == 0:
		p.compileGraph()
	case sig.Inputs.IsTensor():
		err = p.compileTensors(sig.Inputs.Tensors)
	default:
		err = p.compileColumns(sig.Inputs.Columns)
	}
	if err != nil {
		return nil, err
	}
	p.indexFields()
	p.rowWidth = p.computeRowWidth()
	p.pool.New = func() any { return p.newBatch() }
	return p, nil
}

// indexFields maps field names to fields, for named schemas.
func (p *Plan) indexFields() {
	if !p.named || p.index != nil {
		return
	}
	p.index = make(map[string]int, len(p.fields))
	for i := range p.fields {
		p.index[p.fields[i].name] = i
	}
}

func graphDType(d DType) bool {
	switch d {
	case Float32, Float64, Int32, Int64, Bool, String:
		return true
	}
	return false
}

func (p *Plan) compileGraph() {
	p.mode = modeGraph
	p.named = true
	p.fields = make([]field, len(p.inputs))
	for i, in := range p.inputs {
		p.fields[i] = field{name: in.Name, required: true, src: in.DType, shape: in.Shape, feed: i}
	}
}

func (p *Plan) compileTensors(specs []TensorSpec) error {
	p.mode = modeTensors
	p.named = specs[0].Name != ""
	p.fields = make([]field, len(specs))
	if !p.named {
		if len(specs) != 1 {
			return fmt.Errorf("signature has %d unnamed input tensors; at most one is allowed", len(specs))
		}
		if len(p.inputs) != 1 {
			return fmt.Errorf("signature has one unnamed input tensor, but the model graph has %d inputs (%s); name the signature's tensors after them", len(p.inputs), p.inputNames())
		}
		return p.tensorField(0, &specs[0], 0)
	}
	for i := range specs {
		gi := p.inputIndexOf(specs[i].Name)
		if gi < 0 {
			return fmt.Errorf("signature input tensor %q names no graph input (graph inputs: %s)", specs[i].Name, p.inputNames())
		}
		if err := p.tensorField(i, &specs[i], gi); err != nil {
			return err
		}
	}
	fed := make([]bool, len(p.inputs))
	for i := range p.fields {
		fed[p.fields[i].feed] = true
	}
	for gi, in := range p.inputs {
		if !fed[gi] {
			return fmt.Errorf("graph input %q has no tensor of that name in the signature", in.Name)
		}
	}
	return nil
}

func (p *Plan) tensorField(i int, spec *TensorSpec, gi int) error {
	in := &p.inputs[gi]
	what := "signature input tensor " + quote(spec.Name)
	if spec.Name == "" {
		what = "the signature's unnamed input tensor"
	}
	if spec.DType != in.DType && (spec.DType != Float64 || in.DType != Float32) {
		return fmt.Errorf("%s is %s, but graph input %q takes %s", what, spec.DType, in.Name, in.DType)
	}
	if len(spec.Shape) != len(in.Shape) {
		return fmt.Errorf("%s has shape %s, but graph input %q has shape %s", what, shapeString(spec.Shape), in.Name, shapeString(in.Shape))
	}
	shape := make([]int64, len(spec.Shape))
	for k, d := range spec.Shape {
		g := in.Shape[k]
		switch {
		case d >= 0 && g >= 0 && d != g:
			return fmt.Errorf("%s has shape %s, but graph input %q has shape %s", what, shapeString(spec.Shape), in.Name, shapeString(in.Shape))
		case d >= 0:
			shape[k] = d
		default:
			shape[k] = g
		}
	}
	p.fields[i] = field{name: spec.Name, required: true, src: spec.DType, shape: shape, feed: gi}
	return nil
}

func (p *Plan) compileColumns(cols []ColSpec) error {
	p.mode = modeColumns
	p.named = cols[0].Name != ""
	p.fields = make([]field, len(cols))
	for i := range cols {
		c := &cols[i]
		f := field{name: c.Name, required: c.Required, col: c, feed: -1}
		switch c.Type {
		case TypeBoolean:
			f.src = Bool
		case TypeInteger:
			f.src = Int32
		case TypeLong:
			f.src = Int64
		case TypeFloat:
			f.src = Float32
		case TypeDouble:
			f.src = Float64
		case TypeString:
			f.src = String
		case TypeBinary:
			f.src, f.binary = String, true
		case TypeArray, TypeObject:
			p.hasComplex = true
		}
		p.fields[i] = f
	}
	if len(p.inputs) == 1 {
		return p.packColumns()
	}
	if !p.named {
		return fmt.Errorf("signature columns are unnamed, so they cannot be matched to the model graph's %d inputs (%s)", len(p.inputs), p.inputNames())
	}
	p.indexFields()
	for gi, in := range p.inputs {
		fi, ok := p.index[in.Name]
		if !ok {
			return fmt.Errorf("graph input %q has no column of that name in the signature (columns: %s)", in.Name, p.fieldNames())
		}
		if len(in.Shape) != 1 && (len(in.Shape) != 2 || in.Shape[1] > 1 || in.Shape[1] == 0) {
			return fmt.Errorf("graph input %q has shape %s; a column feeds a graph input of shape (-1,) or (-1, 1)", in.Name, shapeString(in.Shape))
		}
		f := &p.fields[fi]
		if err := columnFeeds(f, &p.inputs[gi]); err != nil {
			return err
		}
		f.feed = gi
	}
	return nil
}

// packColumns makes every column feed the single graph input.
func (p *Plan) packColumns() error {
	in := &p.inputs[0]
	n := int64(len(p.fields))
	switch len(in.Shape) {
	case 2:
		if in.Shape[1] >= 0 && in.Shape[1] != n {
			return fmt.Errorf("graph input %q has shape %s, %d values per row, but the signature has %d columns (%s)", in.Name, shapeString(in.Shape), in.Shape[1], n, p.fieldNames())
		}
	case 1:
		if n != 1 {
			return fmt.Errorf("graph input %q has shape %s, one value per row, but the signature has %d columns (%s)", in.Name, shapeString(in.Shape), n, p.fieldNames())
		}
	default:
		return fmt.Errorf("graph input %q has shape %s; a column-based signature needs (-1, %d)", in.Name, shapeString(in.Shape), n)
	}
	p.packed = true
	for i := range p.fields {
		f := &p.fields[i]
		if err := columnFeeds(f, in); err != nil {
			return err
		}
		f.feed, f.offset = 0, i
	}
	return nil
}

// columnFeeds checks that values of column f can be converted to the element
// type of graph input in.
func columnFeeds(f *field, in *GraphTensor) error {
	ok := false
	switch f.src {
	case Bool:
		ok = in.DType == Bool
	case Int32:
		ok = in.DType == Int32 || in.DType == Int64 || in.DType == Float32 || in.DType == Float64
	case Int64:
		ok = in.DType == Int64 || in.DType == Float32 || in.DType == Float64
	case Float32, Float64:
		ok = in.DType == Float32 || in.DType == Float64
	case String:
		ok = in.DType == String
	}
	if !ok {
		return fmt.Errorf("column %q has type %s, which cannot feed graph input %q of element type %s", f.name, f.col.Type, in.Name, in.DType)
	}
	return nil
}

func (p *Plan) inputIndexOf(name string) int {
	if i, ok := p.inputIndex[name]; ok {
		return i
	}
	return -1
}

func (p *Plan) inputNames() string {
	names := make([]string, len(p.inputs))
	for i := range p.inputs {
		names[i] = p.inputs[i].Name
	}
	return nameList(names)
}

func (p *Plan) fieldNames() string {
	names := make([]string, len(p.fields))
	for i := range p.fields {
		names[i] = p.fields[i].name
	}
	return nameList(names)
}

// Inputs returns the graph inputs the plan feeds, in graph order. The
// returned slice is shared and must not be modified.
func (p *Plan) Inputs() []GraphTensor { return p.inputs }

// Signature returns the signature the plan was compiled from; nil when the
// model has none.
func (p *Plan) Signature() *Signature { return p.sig }

// Batchable reports whether every graph input has a dynamic leading
// dimension, so that several requests can be concatenated along it.
func (p *Plan) Batchable() bool {
	for i := range p.inputs {
		if len(p.inputs[i].Shape) == 0 || p.inputs[i].Shape[0] >= 0 {
			return false
		}
	}
	return true
}

// shapeString formats a shape as a Python tuple, as MLflow prints shapes:
// (-1, 4), (-1,), ().
func shapeString(shape []int64) string {
	var sb strings.Builder
	sb.WriteByte('(')
	for i, d := range shape {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprint(&sb, d)
	}
	if len(shape) == 1 {
		sb.WriteByte(',')
	}
	sb.WriteByte(')')
	return sb.String()
}
