package signature

import (
	"context"
	"strconv"
	"unsafe"

	"github.com/valyala/fastjson"
)

// The keys of an inference request and of its tensors, and the parameters
// of the binary tensor data extension.
const (
	inferKeyID         = "id"
	inferKeyInputs     = "inputs"
	inferKeyOutputs    = "outputs"
	inferKeyParameters = "parameters"
	inferKeyName       = "name"
	inferKeyShape      = "shape"
	inferKeyDatatype   = "datatype"
	inferKeyData       = "data"

	paramBinaryDataSize   = "binary_data_size"
	paramBinaryData       = "binary_data"
	paramBinaryDataOutput = "binary_data_output"
)

// inferFormat names an inference request's data in messages.
const inferFormat = "inputs"

// MeasureInfer checks body, an Open Inference Protocol inference request,
// against lim (zero fields: Plan.Limits) and the JSON grammar, and returns
// what decoding it asks for, as Measure does for MLflow's formats. header
// is the length of the request's JSON object, the rest of the body being
// binary tensor data (the Inference-Header-Content-Length header); -1
// means the whole body is JSON. DecodeMeasured decodes the body.
func (p *Plan) MeasureInfer(body []byte, header int, lim Limits) (Cost, error) {
	lim = p.Limits(lim)
	c, err := measureInfer(body, header, lim, nil)
	c.plan, c.lim, c.body = p, lim, uintptr(unsafe.Pointer(unsafe.SliceData(body)))
	return c, err
}

func measureInfer(body []byte, header int, lim Limits, ctx context.Context) (Cost, error) {
	if header < 0 {
		header = len(body)
	}
	c := Cost{Format: FormatInfer, Bytes: len(body), header: header, binary: len(body) - header}
	if header > len(body) {
		return c, badRequest("Inference-Header-Content-Length is %d, but the body has only %d bytes", header, len(body))
	}
	js := body[:header]
	if len(trimSpace(b2s(js))) == 0 {
		return c, badRequest(`the request has no JSON object; expected {"inputs": [...]}`)
	}
	s := requestScanner(js, lim, ctx)
	s.infer = true
	err := s.run()
	c.Elements, c.Values, c.inf = s.elements, s.values, s.inf
	return c, err
}

// decodeInfer decodes an inference request measured as d.measured: its
// JSON object, then the binary data its tensors announce, into the
// request's tensors, then into the feeds.
func (d *scratch) decodeInfer(body []byte, b *Batch) error {
	c := d.measured
	d.format = inferFormat
	d.budget = c.Elements
	js, tail := body[:c.header], body[c.header:]
	if c.inf {
		d.body = rewriteInfinity(d.body[:0], js)
		js = d.body
	}
	d.maxBody = max(d.maxBody, len(js))
	d.maxValues = max(d.maxValues, c.Values)
	reserveValues(&d.parser, c.Values)
	root, perr := d.parser.ParseBytes(js)
	if perr != nil {
		return badRequest("malformed JSON: %s", quoteRaw(perr.Error()))
	}
	if err := d.ctx.Err(); err != nil {
		return deadline(err)
	}
	d.root = root
	if root.Type() != fastjson.TypeObject {
		return badRequest(`the request must be a JSON object with "inputs"; got %s`, kindOf(root))
	}
	var id, params, inputs, outputs *fastjson.Value
	root.GetObject().Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case inferKeyID:
			id = v
		case inferKeyParameters:
			params = v
		case inferKeyInputs:
			inputs = v
		case inferKeyOutputs:
			outputs = v
		}
	})
	req := &d.infer
	if id != nil && id.Type() != fastjson.TypeNull {
		if id.Type() != fastjson.TypeString {
			return badRequest(`"id" must be a string; got %s`, describe(id))
		}
		req.ID = b2s(id.GetStringBytes())
	}
	if params != nil && params.Type() != fastjson.TypeNull {
		if params.Type() != fastjson.TypeObject {
			return badRequest(`"parameters" must be an object; got %s`, kindOf(params))
		}
		o := params.GetObject()
		if v := o.Get(paramBinaryDataOutput); v != nil {
			t, ok := jsonBoolParam(v)
			if !ok {
				return badRequest(`parameters: %q must be true or false; got %s`, paramBinaryDataOutput, describe(v))
			}
			req.BinaryOutput = t
		}
		if err := d.checkParams(o); err != nil {
			return err
		}
	}
	if err := d.decodeRequestedOutputs(outputs); err != nil {
		return err
	}
	if err := d.decodeInputTensors(inputs, tail); err != nil {
		return err
	}
	return d.fillTensors(b, d.tensors)
}

// decodeRequestedOutputs reads the request's "outputs".
func (d *scratch) decodeRequestedOutputs(v *fastjson.Value) error {
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil
	}
	if v.Type() != fastjson.TypeArray {
		return badRequest(`"outputs" must be a list of objects with a "name"; got %s`, kindOf(v))
	}
	req := &d.infer
	for i, o := range v.GetArray() {
		if o.Type() != fastjson.TypeObject {
			return badRequest(`outputs[%d] must be an object with a "name"; got %s`, i, kindOf(o))
		}
		name := o.Get(inferKeyName)
		if name == nil || name.Type() != fastjson.TypeString {
			return badRequest(`outputs[%d] needs a "name" string; got %s`, i, describe(name))
		}
		ro := RequestedOutput{Name: b2s(name.GetStringBytes())}
		for _, prev := range req.Outputs {
			if prev.Name == ro.Name {
				return badRequest("output %s is requested more than once", quote(ro.Name))
			}
		}
		if ps := o.Get(inferKeyParameters); ps != nil && ps.Type() != fastjson.TypeNull {
			if ps.Type() != fastjson.TypeObject {
				return badRequest(`output %s: "parameters" must be an object; got %s`, quote(ro.Name), kindOf(ps))
			}
			if bd := ps.Get(paramBinaryData); bd != nil {
				t, ok := jsonBoolParam(bd)
				if !ok {
					return badRequest(`output %s: parameter %q must be true or false; got %s`, quote(ro.Name), paramBinaryData, describe(bd))
				}
				ro.Binary, ro.BinarySet = t, true
			}
		}
		req.Outputs = append(req.Outputs, ro)
	}
	return nil
}

// jsonBoolParam reads a boolean parameter.
func jsonBoolParam(v *fastjson.Value) (bool, bool) {
	switch v.Type() {
	case fastjson.TypeTrue:
		return true, true
	case fastjson.TypeFalse:
		return false, true
	}
	return false, false
}

// decodeInputTensors reads the request's "inputs" into d.tensors, their
// binary data taken in order from tail, which they must use up exactly.
func (d *scratch) decodeInputTensors(v *fastjson.Value, tail []byte) error {
	if v == nil || v.Type() == fastjson.TypeNull {
		return badRequest(`the request has no "inputs"; the model takes %s`, d.plan.inferInputNames())
	}
	if v.Type() != fastjson.TypeArray {
		return badRequest(`"inputs" must be a list of tensors; got %s`, kindOf(v))
	}
	items := v.GetArray()
	if len(items) == 0 {
		return badRequest(`"inputs" is empty; the model takes %s`, d.plan.inferInputNames())
	}
	if len(items) > MaxColumns {
		return badRequest(`"inputs" holds %s`, tooMany(len(items), "tensors", MaxColumns, "MaxColumns"))
	}
	d.tensors = grow(d.tensors, len(items))
	d.shapes = d.shapes[:0]
	off := 0
	for i, item := range items {
		t := &d.tensors[i]
		*t = Tensor{}
		if item.Type() != fastjson.TypeObject {
			return badRequest("inputs[%d] must be an object with a name, shape, datatype and data; got %s", i, kindOf(item))
		}
		var name, shape, dt, params, data *fastjson.Value
		item.GetObject().Visit(func(k []byte, v *fastjson.Value) {
			switch string(k) {
			case inferKeyName:
				name = v
			case inferKeyShape:
				shape = v
			case inferKeyDatatype:
				dt = v
			case inferKeyParameters:
				params = v
			case inferKeyData:
				data = v
			}
		})
		if name == nil || name.Type() != fastjson.TypeString {
			return badRequest(`inputs[%d] needs a "name" string; got %s`, i, describe(name))
		}
		t.Name = b2s(name.GetStringBytes())
		what := inputName(t.Name)
		if dt == nil || dt.Type() != fastjson.TypeString {
			return badRequest(`%s needs a "datatype" string (BOOL, INT8 ... INT64, UINT8 ... UINT64, FP16, FP32, FP64 or BYTES); got %s`, what, describe(dt))
		}
		t.DatatypeName = b2s(dt.GetStringBytes())
		t.Datatype, _ = ParseDatatype(t.DatatypeName)
		if err := d.decodeShape(t, what, shape); err != nil {
			return err
		}
		size := -1
		if params != nil && params.Type() != fastjson.TypeNull {
			if params.Type() != fastjson.TypeObject {
				return badRequest(`%s: "parameters" must be an object; got %s`, what, kindOf(params))
			}
			if bs := params.Get(paramBinaryDataSize); bs != nil {
				n, ok := d.jsonCount(bs)
				if !ok {
					return badRequest("%s: parameter %q must be a non-negative integer; got %s", what, paramBinaryDataSize, describe(bs))
				}
				size = n
			}
		}
		switch {
		case size >= 0 && data != nil && data.Type() != fastjson.TypeNull:
			return badRequest("%s has both %q and \"data\"; send its data one way", what, paramBinaryDataSize)
		case size >= 0:
			if size > len(tail)-off {
				return badRequest("%s: %q is %d, but only %d bytes of binary data follow the JSON object", what, paramBinaryDataSize, size, len(tail)-off)
			}
			t.HasRaw, t.Raw = true, tail[off:off+size]
			off += size
		case data == nil || data.Type() == fastjson.TypeNull:
			return badRequest(`%s has no "data" (nor a %q parameter for binary data)`, what, paramBinaryDataSize)
		default:
			t.json = data
		}
	}
	if off != len(tail) {
		return badRequest("%d bytes of binary data follow the JSON object, but its inputs' %q add up to %d", len(tail), paramBinaryDataSize, off)
	}
	return nil
}

// inputName names an input tensor in messages; its String is computed
// only when a message needs it.
type inputName string

func (n inputName) String() string { return "input " + quote(string(n)) }

// decodeShape reads a tensor's "shape": a list of non-negative integers.
func (d *scratch) decodeShape(t *Tensor, what inputName, v *fastjson.Value) error {
	if v == nil || v.Type() != fastjson.TypeArray {
		return badRequest(`%s needs a "shape", a list of non-negative integers; got %s`, what, describe(v))
	}
	start := len(d.shapes)
	for k, e := range v.GetArray() {
		n, ok := d.jsonCount(e)
		if !ok {
			return badRequest("%s: shape[%d] must be a non-negative integer; got %s", what, k, describe(e))
		}
		d.shapes = append(d.shapes, int64(n))
	}
	t.Shape = d.shapes[start:len(d.shapes):len(d.shapes)]
	return nil
}

// jsonCount reads a non-negative JSON integer that fits an int.
func (d *scratch) jsonCount(v *fastjson.Value) (int, bool) {
	if v == nil || v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	text := d.numText(v)
	if !isIntLiteral(text) {
		return 0, false
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < 0 || int64(int(n)) != n {
		return 0, false
	}
	return int(n), true
}
