package signature

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

// TestDecodeInfer decodes Open Inference Protocol requests (JSON data)
// for column-based, tensor and signature-less models, and refuses what
// does not fit with a message naming the input.
func TestDecodeInfer(t *testing.T) {
	const fi = FormatInfer
	runDecodeCases(t, []decodeCase{
		// churn-gbm v1: four named columns packed into one float32 graph
		// input, one tensor of shape [N] (or [N, 1]) per column.
		{name: "columns", plan: "v1", format: fi, body: `{"inputs": [
			{"name": "tenure", "shape": [2], "datatype": "INT64", "data": [37, 2]},
			{"name": "monthly_charges", "shape": [2, 1], "datatype": "FP64", "data": [[36.0], [20.5]]},
			{"name": "total_charges", "shape": [2], "datatype": "FP32", "data": [1306.52, 41]},
			{"name": "contract_months", "shape": [2], "datatype": "INT32", "data": [1, 12]}]}`,
			rows: 2, records: true, feeds: []feed{{shp(2, 4), f32s(37, 36, 1306.52, 1, 2, 20.5, 41, 12)}}},
		{name: "column rows disagree", plan: "v1", format: fi, body: `{"inputs": [
			{"name": "tenure", "shape": [2], "datatype": "INT64", "data": [37, 2]},
			{"name": "monthly_charges", "shape": [1], "datatype": "FP64", "data": [36.0]},
			{"name": "total_charges", "shape": [2], "datatype": "FP64", "data": [1, 2]},
			{"name": "contract_months", "shape": [2], "datatype": "INT64", "data": [1, 12]}]}`,
			code: ipv, msg: []string{`"tenure" has 2`, `"monthly_charges" has 1`}},
		{name: "column of wrong datatype", plan: "v1", format: fi, body: `{"inputs": [
			{"name": "tenure", "shape": [1], "datatype": "FP32", "data": [37.5]},
			{"name": "monthly_charges", "shape": [1], "datatype": "FP64", "data": [36.0]},
			{"name": "total_charges", "shape": [1], "datatype": "FP64", "data": [1]},
			{"name": "contract_months", "shape": [1], "datatype": "INT64", "data": [1]}]}`,
			code: ipv, msg: []string{`input "tenure" has datatype FP32, but the model takes long`, "INT64"}},
		{name: "column of wrong shape", plan: "v1", format: fi, body: `{"inputs": [
			{"name": "tenure", "shape": [1, 2], "datatype": "INT64", "data": [37, 1]},
			{"name": "monthly_charges", "shape": [1], "datatype": "FP64", "data": [36.0]},
			{"name": "total_charges", "shape": [1], "datatype": "FP64", "data": [1]},
			{"name": "contract_months", "shape": [1], "datatype": "INT64", "data": [1]}]}`,
			code: ipv, msg: []string{`column "tenure" has shape (1, 2)`, "[N] or [N, 1]"}},
		{name: "missing columns", plan: "v1", format: fi, body: `{"inputs": [
			{"name": "tenure", "shape": [1], "datatype": "INT64", "data": [37]}]}`,
			code: ipv, msg: []string{"missing required inputs", `"monthly_charges"`, `"contract_months"`}},
		{name: "unknown input", plan: "v1", format: fi, body: `{"inputs": [
			{"name": "age", "shape": [1], "datatype": "INT64", "data": [37]}]}`,
			code: ipv, msg: []string{`input "age" is not an input of the model`, `"tenure"`}},
		// churn-gbm v2: one unnamed float32 (-1, 4) tensor, named after the
		// graph input.
		{name: "unnamed tensor", plan: "v2", format: fi, body: `{"id": "42", "inputs": [
			{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [37, 36, 1306.52, 1]}]}`,
			rows: 1, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "unnamed tensor nested", plan: "v2", format: fi, body: `{"inputs": [
			{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [[37, 36, 1306.52, 1]]}]}`,
			rows: 1, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "bad shape", plan: "v2", format: fi, body: `{"inputs": [
			{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [37, 36, 1306.52]}]}`,
			code: ipv, msg: []string{`input "input" has shape (1, 3), but the model expects (-1, 4)`}},
		{name: "data and shape disagree", plan: "v2", format: fi, body: `{"inputs": [
			{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [37, 36, 1306.52, 1]}]}`,
			code: ipv, msg: []string{`input "input" has shape (2, 4), 8 values, but its data holds 4`}},
		{name: "ragged nesting", plan: "v2", format: fi, body: `{"inputs": [
			{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [[37, 36, 1306.52, 1], [1, 2]]}]}`,
			code: ipv, msg: []string{`not nested like its shape`}},
		{name: "string in FP32", plan: "v2", format: fi, body: `{"inputs": [
			{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [37, "x", 1306.52, 1]}]}`,
			code: bad, msg: []string{`input "input" (FP32) at [0][1]: expected a number, got the string "x"`}},
		{name: "bool into float", plan: "v2", format: fi, body: `{"inputs": [
			{"name": "input", "shape": [1, 4], "datatype": "BOOL", "data": [true, false, true, true]}]}`,
			code: ipv, msg: []string{`datatype BOOL, but the model takes float32`}},
		{name: "unknown datatype", plan: "v2", format: fi, body: `{"inputs": [
			{"name": "input", "shape": [1, 4], "datatype": "FLOAT", "data": [1, 2, 3, 4]}]}`,
			code: bad, msg: []string{`datatype "FLOAT" is not one of`}},
		{name: "no inputs", plan: "v2", format: fi, body: `{"id": "1"}`,
			code: bad, msg: []string{`no "inputs"`, `"input"`}},
		{name: "not an object", plan: "v2", format: fi, body: `[1, 2]`,
			code: bad, msg: []string{"must be a JSON object"}},
		{name: "id not a string", plan: "v2", format: fi, body: `{"id": 42, "inputs": []}`,
			code: bad, msg: []string{`"id" must be a string`}},
		{name: "negative shape", plan: "v2", format: fi, body: `{"inputs": [
			{"name": "input", "shape": [-1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}`,
			code: bad, msg: []string{"shape[0] must be a non-negative integer"}},
		{name: "int out of range", plan: "itensor", format: fi, body: `{"inputs": [
			{"name": "ids", "shape": [1, 2], "datatype": "INT8", "data": [1, 300]},
			{"name": "mask", "shape": [1, 2], "datatype": "BOOL", "data": [true, false]}]}`,
			code: bad, msg: []string{`input "ids" (INT8) at [0][1]: expected an integer within INT8's range, got the number 300`}},
		{name: "ints widen", plan: "itensor", format: fi, body: `{"inputs": [
			{"name": "ids", "shape": [1, 2], "datatype": "UINT32", "data": [1, 4294967295]},
			{"name": "mask", "shape": [1, 2], "datatype": "BOOL", "data": [true, false]}]}`,
			rows: 1, feeds: []feed{{shp(1, 2), i64s(1, 4294967295)}, {shp(1, 2), bools(true, false)}}},
		{name: "UINT64 does not fit int64", plan: "itensor", format: fi, body: `{"inputs": [
			{"name": "ids", "shape": [1, 2], "datatype": "UINT64", "data": [1, 2]},
			{"name": "mask", "shape": [1, 2], "datatype": "BOOL", "data": [true, false]}]}`,
			code: ipv, msg: []string{`datatype UINT64, but the model takes int64`}},
		{name: "scalar", plan: "scalar", format: fi, body: `{"inputs": [{"name": "k", "shape": [], "datatype": "INT64", "data": [7]}]}`,
			rows: 1, feeds: []feed{{shp(), i64s(7)}}},
		{name: "graph inputs by name", plan: "nosigN", format: fi, body: `{"inputs": [
			{"name": "contract_months", "shape": [1], "datatype": "FP32", "data": [1]},
			{"name": "tenure", "shape": [1], "datatype": "FP32", "data": [37]},
			{"name": "monthly_charges", "shape": [1], "datatype": "FP32", "data": [36]},
			{"name": "total_charges", "shape": [1], "datatype": "FP32", "data": [1306.52]}]}`,
			rows: 1, feeds: []feed{{shp(1), f32s(37)}, {shp(1), f32s(36)}, {shp(1), f32s(1306.52)}, {shp(1), f32s(1)}}},
		{name: "duplicate input", plan: "nosigN", format: fi, body: `{"inputs": [
			{"name": "tenure", "shape": [1], "datatype": "FP32", "data": [1]},
			{"name": "tenure", "shape": [1], "datatype": "FP32", "data": [37]}]}`,
			code: bad, msg: []string{`input "tenure" appears more than once`}},
		{name: "strings", plan: "strcol", format: fi, body: `{"inputs": [
			{"name": "s", "shape": [2], "datatype": "BYTES", "data": ["a", "ünï"]},
			{"name": "bin", "shape": [2], "datatype": "BYTES", "data": ["raw", ""]}]}`,
			rows: 2, records: true, feeds: []feed{{shp(2), strs("a", "ünï")}, {shp(2), strs("raw", "")}}},
		{name: "string column as INT64", plan: "strcol", format: fi, body: `{"inputs": [
			{"name": "s", "shape": [1], "datatype": "INT64", "data": [1]},
			{"name": "bin", "shape": [1], "datatype": "BYTES", "data": ["x"]}]}`,
			code: ipv, msg: []string{`datatype INT64, but the model takes string (send BYTES)`}},
		{name: "complex column", plan: "complex", format: fi, body: `{"inputs": [
			{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]},
			{"name": "tags", "shape": [1], "datatype": "BYTES", "data": ["[1]"]},
			{"name": "y", "shape": [1], "datatype": "FP64", "data": [1]}]}`,
			code: ipv, msg: []string{`column "tags" has type array`, "/invocations"}},
		{name: "unnamed columns", plan: "unnamed", format: fi, body: `{"inputs": [
			{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 3, 4]}]}`,
			rows: 2, records: true, feeds: []feed{{shp(2, 2), f64s(1, 2, 3, 4)}}},
		{name: "params checked", plan: "params", format: fi, body: `{"parameters": {"threshold": "high"}, "inputs": [
			{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]}`,
			code: ipv, msg: []string{`params: "threshold" must be a double`}},
		{name: "params pass", plan: "params", format: fi, body: `{"parameters": {"threshold": 0.7, "content_type": "np"}, "inputs": [
			{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]}`,
			rows: 1, records: true, feeds: []feed{{shp(1), f64s(1)}}},
	})
}

// TestDecodeInferRequest reads the id and the requested outputs.
func TestDecodeInferRequest(t *testing.T) {
	p := testPlans(t)["v2"]
	b := mustDecode(t, p, FormatInfer, `{"id": "req-1", "parameters": {"binary_data_output": true},
		"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}],
		"outputs": [{"name": "probability", "parameters": {"binary_data": false}}, {"name": "label"}]}`)
	defer p.PutBatch(b)
	r := b.InferRequest()
	if r.ID != "req-1" || !r.BinaryOutput || len(r.Outputs) != 2 {
		t.Fatalf("request %+v", r)
	}
	if r.Binary(0) || !r.Binary(1) {
		t.Errorf("binary outputs %v %v; want false (its own parameter), true (binary_data_output)", r.Binary(0), r.Binary(1))
	}
	outs := []Output{{Name: "label"}, {Name: "probability"}}
	sel, err := r.SelectOutputs(nil, outs)
	if err != nil || len(sel) != 2 || sel[0] != 1 || sel[1] != 0 {
		t.Errorf("SelectOutputs = %v, %v; want [1 0]", sel, err)
	}
	r.Outputs = append(r.Outputs, RequestedOutput{Name: "margin"})
	if _, err := r.SelectOutputs(nil, outs); err == nil || !strings.Contains(err.Error(), `output "margin" is not an output of the model; it has "label", "probability"`) {
		t.Errorf("unknown output: %v", err)
	}
}

// binaryBody builds a request with its tensors as binary data.
func binaryBody(header string, data ...[]byte) ([]byte, int) {
	body := []byte(header)
	for _, d := range data {
		body = append(body, d...)
	}
	return body, len(header)
}

func le32(xs ...float32) []byte {
	var b []byte
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// TestDecodeInferBinary decodes tensors sent as binary data, every
// datatype into the element types a model takes.
func TestDecodeInferBinary(t *testing.T) {
	plans := testPlans(t)
	decode := func(p *Plan, body []byte, header int) (*Batch, error) {
		c, err := p.MeasureInfer(body, header, Limits{})
		if err != nil {
			return nil, err
		}
		b := p.GetBatch()
		return b, p.DecodeMeasured(context.Background(), body, c, b)
	}
	p := plans["v2"]
	body, hl := binaryBody(`{"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "parameters": {"binary_data_size": 32}}]}`,
		le32(37, 36, 1306.52, 1, 2, 20.5, 41, 12))
	b, err := decode(p, body, hl)
	if err != nil {
		t.Fatal(err)
	}
	if want := f32s(37, 36, 1306.52, 1, 2, 20.5, 41, 12); !f32Eq(b.Feeds[0].F32, want) || b.Rows != 2 {
		t.Errorf("feed %v rows %d; want %v", b.Feeds[0].F32, b.Rows, want)
	}
	p.PutBatch(b)

	half := func(xs ...uint16) []byte {
		var b []byte
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint16(b, x)
		}
		return b
	}
	// 1.0, -2.0, 0.5, 65504 (the largest half) as FP16.
	body, hl = binaryBody(`{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP16", "parameters": {"binary_data_size": 8}}]}`,
		half(0x3c00, 0xc000, 0x3800, 0x7bff))
	if b, err = decode(p, body, hl); err != nil {
		t.Fatal(err)
	}
	if want := f32s(1, -2, 0.5, 65504); !f32Eq(b.Feeds[0].F32, want) {
		t.Errorf("FP16 feed %v; want %v", b.Feeds[0].F32, want)
	}
	p.PutBatch(b)

	for _, tc := range []struct {
		name, header string
		data         []byte
		msg          string
	}{
		{"short", `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 12}}]}`,
			le32(1, 2, 3), `its binary data holds 12 bytes, but shape (1, 4) of FP32 needs 16`},
		{"more than announced", `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]}`,
			le32(1, 2, 3, 4, 5), `20 bytes of binary data follow the JSON object, but its inputs' "binary_data_size" add up to 16`},
		{"less than announced", `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]}`,
			le32(1, 2), `"binary_data_size" is 16, but only 8 bytes of binary data follow`},
		{"both", `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4], "parameters": {"binary_data_size": 16}}]}`,
			le32(1, 2, 3, 4), `has both "binary_data_size" and "data"`},
	} {
		body, hl := binaryBody(tc.header, tc.data)
		b, err := decode(p, body, hl)
		var se *Error
		if !errors.As(err, &se) || !strings.Contains(se.Message, tc.msg) {
			t.Errorf("%s: error %v; want one containing %q", tc.name, err, tc.msg)
		}
		p.PutBatch(b)
	}
}

// TestDecodeInferEveryDatatype sends every datatype of the protocol, as
// JSON, binary data and typed contents, to the model input it converts
// to, and checks the values the model gets.
func TestDecodeInferEveryDatatype(t *testing.T) {
	plans := map[DType]*Plan{}
	for _, d := range []DType{Float32, Float64, Int32, Int64, Bool, String} {
		plans[d] = mustPlan(t, nil, []GraphTensor{{Name: "x", DType: d, Shape: []int64{-1}}})
	}
	type tc struct {
		dt   Datatype
		into DType
		json string
		raw  []byte
		ts   Tensor
		want any
	}
	u16 := func(xs ...uint16) []byte {
		var b []byte
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint16(b, x)
		}
		return b
	}
	cases := []tc{
		{DatatypeBool, Bool, `[true, false]`, []byte{1, 0}, Tensor{Bool: []bool{true, false}}, bools(true, false)},
		{DatatypeUint8, Int32, `[0, 255]`, []byte{0, 255}, Tensor{Uint: []uint32{0, 255}}, i32s(0, 255)},
		{DatatypeUint16, Int32, `[1, 65535]`, u16(1, 65535), Tensor{Uint: []uint32{1, 65535}}, i32s(1, 65535)},
		{DatatypeUint32, Int64, `[1, 4294967295]`, binary.LittleEndian.AppendUint32([]byte{1, 0, 0, 0}, math.MaxUint32), Tensor{Uint: []uint32{1, math.MaxUint32}}, i64s(1, math.MaxUint32)},
		{DatatypeUint64, Float64, `[1, 18446744073709551615]`, binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, 1), math.MaxUint64), Tensor{Uint64: []uint64{1, math.MaxUint64}}, f64s(1, math.MaxUint64)},
		{DatatypeInt8, Int32, `[-128, 127]`, []byte{0x80, 0x7f}, Tensor{Int: []int32{-128, 127}}, i32s(-128, 127)},
		{DatatypeInt16, Int64, `[-32768, 32767]`, u16(0x8000, 0x7fff), Tensor{Int: []int32{-32768, 32767}}, i64s(-32768, 32767)},
		{DatatypeInt32, Int32, `[-2147483648, 2147483647]`, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, 0x80000000), 0x7fffffff), Tensor{Int: []int32{math.MinInt32, math.MaxInt32}}, i32s(math.MinInt32, math.MaxInt32)},
		{DatatypeInt64, Int64, `[-1, 9007199254740993]`, binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, math.MaxUint64), 9007199254740993), Tensor{Int64: []int64{-1, 9007199254740993}}, i64s(-1, 9007199254740993)},
		{DatatypeFP16, Float32, `[1.0, -2.0]`, u16(0x3c00, 0xc000), Tensor{}, f32s(1, -2)},
		{DatatypeFP32, Float32, `[0.1, -2.5]`, le32(0.1, -2.5), Tensor{FP32: []float32{0.1, -2.5}}, f32s(0.1, -2.5)},
		{DatatypeFP64, Float64, `[1e-05, 0.1]`, binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, math.Float64bits(1e-5)), math.Float64bits(0.1)), Tensor{FP64: []float64{1e-5, 0.1}}, f64s(1e-5, 0.1)},
		{DatatypeFP64, Float32, `[0.1, 3]`, binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1)), math.Float64bits(3)), Tensor{FP64: []float64{0.1, 3}}, f32s(0.1, 3)},
		{DatatypeBytes, String, `["héllo", ""]`, append(binary.LittleEndian.AppendUint32(nil, 6), append([]byte("héllo"), 0, 0, 0, 0)...), Tensor{Bytes: [][]byte{[]byte("héllo"), {}}}, strs("héllo", "")},
	}
	for _, c := range cases {
		p := plans[c.into]
		name := c.dt.String() + " into " + c.into.String()
		check := func(how string, b *Batch, err error) {
			t.Helper()
			if err != nil {
				t.Errorf("%s (%s): %v", name, how, err)
				return
			}
			if got := feedData(&b.Feeds[0]); !sameData(got, c.want) {
				t.Errorf("%s (%s): feed %v; want %v", name, how, got, c.want)
			}
			p.PutBatch(b)
		}
		// JSON.
		body := `{"inputs": [{"name": "x", "shape": [2], "datatype": "` + c.dt.String() + `", "data": ` + c.json + `}]}`
		b := p.GetBatch()
		check("JSON", b, p.Decode(FormatInfer, []byte(body), b))
		// Binary data.
		bb, hl := binaryBody(`{"inputs": [{"name": "x", "shape": [2], "datatype": "`+c.dt.String()+`", "parameters": {"binary_data_size": `+itoaTest(len(c.raw))+`}}]}`, c.raw)
		cost, err := p.MeasureInfer(bb, hl, Limits{})
		b = p.GetBatch()
		if err == nil {
			err = p.DecodeMeasured(context.Background(), bb, cost, b)
		}
		check("binary", b, err)
		// gRPC raw and typed contents.
		for _, ts := range []Tensor{{HasRaw: true, Raw: c.raw}, c.ts} {
			if ts.HasRaw == false && c.dt == DatatypeFP16 {
				continue
			}
			ts.Name, ts.Datatype, ts.Shape = "x", c.dt, []int64{2}
			tensors := []Tensor{ts}
			cost, err := p.MeasureTensors(tensors, Limits{})
			b = p.GetBatch()
			if err == nil {
				err = p.DecodeTensors(context.Background(), tensors, cost, b)
			}
			check("tensors", b, err)
		}
	}
}

func itoaTest(n int) string { return strconv.Itoa(n) }

// TestDecodeInferLimits refuses requests over max_elements and max_rows
// before converting them.
func TestDecodeInferLimits(t *testing.T) {
	p := testPlans(t)["v2"]
	lim := Limits{MaxRows: 4, MaxElements: 16}
	body := `{"inputs": [{"name": "input", "shape": [5, 4], "datatype": "FP32", "parameters": {"binary_data_size": 80}}]}`
	full := append([]byte(body), make([]byte, 80)...)
	c, err := p.MeasureInfer(full, len(body), lim)
	if err != nil {
		t.Fatal(err)
	}
	b := p.GetBatch()
	defer p.PutBatch(b)
	err = p.DecodeMeasured(context.Background(), full, c, b)
	var se *Error
	if !errors.As(err, &se) || se.Limit != "max_elements" {
		t.Errorf("5 × 4 values over max_elements 16: %v; want a max_elements error", err)
	}
	// A JSON request over max_elements is refused by the measuring pass.
	js := `{"inputs": [{"name": "input", "shape": [5, 4], "datatype": "FP32", "data": [` + strings.TrimSuffix(strings.Repeat("1,", 20), ",") + `]}]}`
	if _, err := p.MeasureInfer([]byte(js), -1, lim); !errors.As(err, &se) || se.Limit != "max_elements" {
		t.Errorf("JSON of 20 values over max_elements 16: %v; want a max_elements error", err)
	}
	// Shapes whose product overflows.
	ts := []Tensor{{Name: "input", Datatype: DatatypeFP32, Shape: []int64{1 << 40, 1 << 40}, HasRaw: true}}
	if _, err := p.MeasureTensors(ts, lim); !errors.As(err, &se) || se.Limit != "max_elements" {
		t.Errorf("shape 2^40 × 2^40: %v; want a max_elements error", err)
	}
}

// TestAppendInferResponse encodes outputs as JSON and as binary data.
func TestAppendInferResponse(t *testing.T) {
	outs := []Output{
		{Name: "label", DType: Int64, Shape: []int64{2}, I64: []int64{1, 0}},
		{Name: "probability", DType: Float32, Shape: []int64{2, 1}, F32: []float32{0.25, 0.5}},
		{Name: "probabilities", Seq: []MapValue{{IntKeys: []int64{0, 1}, Values: []float64{0.75, 0.25}}, {IntKeys: []int64{0, 1}, Values: []float64{0.5, 0.5}}}},
		{Name: "s", DType: String, Shape: []int64{1}, S: []string{"é"}},
	}
	req := &InferRequest{ID: "42"}
	sel, _ := req.SelectOutputs(nil, outs)
	js, tail, err := AppendInferResponse(nil, nil, &InferResponse{ModelName: "churn", ModelVersion: "3", Request: req}, outs, sel)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model_name":"churn","model_version":"3","id":"42","outputs":[` +
		`{"name":"label","datatype":"INT64","shape":[2],"data":[1,0]},` +
		`{"name":"probability","datatype":"FP32","shape":[2,1],"data":[0.25,0.5]},` +
		`{"name":"probabilities","datatype":"BYTES","shape":[2],"data":["{\"0\": 0.75, \"1\": 0.25}","{\"0\": 0.5, \"1\": 0.5}"]},` +
		`{"name":"s","datatype":"BYTES","shape":[1],"data":["\u00e9"]}]}`
	if string(js) != want || len(tail) != 0 {
		t.Errorf("JSON response\n%s\nwant\n%s\n(tail %d bytes)", js, want, len(tail))
	}
	req = &InferRequest{Outputs: []RequestedOutput{{Name: "probability", Binary: true, BinarySet: true}, {Name: "s"}}, BinaryOutput: true}
	sel, _ = req.SelectOutputs(nil, outs)
	js, tail, err = AppendInferResponse(nil, nil, &InferResponse{ModelName: "churn", Request: req}, outs, sel)
	if err != nil {
		t.Fatal(err)
	}
	want = `{"model_name":"churn","outputs":[` +
		`{"name":"probability","datatype":"FP32","shape":[2,1],"parameters":{"binary_data_size":8}},` +
		`{"name":"s","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":6}}]}`
	wantTail := append(le32(0.25, 0.5), 2, 0, 0, 0, 0xc3, 0xa9)
	if string(js) != want || string(tail) != string(wantTail) {
		t.Errorf("binary response\n%s %v\nwant\n%s %v", js, tail, want, wantTail)
	}
}

// TestStickyKeyInfer reads a route's sticky column from an inference
// request, as JSON data and as binary data, and from gRPC tensors, with
// the same text for the same value.
func TestStickyKeyInfer(t *testing.T) {
	header := `{"inputs": [{"name": "a", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
		{"name": "customer_id", "shape": [2], "datatype": "INT64", "parameters": {"binary_data_size": 16}},
		{"name": "s", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 7}}]}`
	body := append([]byte(header), le32(1, 2)...)
	body = binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(body, 4711), 12)
	body = append(binary.LittleEndian.AppendUint32(body, 3), "abc"...)
	for _, tc := range []struct {
		name, column string
		body         []byte
		header       int
		want         string
		ok           bool
	}{
		{"binary INT64", "customer_id", body, len(header), "4711", true},
		{"binary BYTES", "s", body, len(header), "abc", true},
		{"binary FP32", "a", body, len(header), "1.0", true},
		{"JSON", "customer_id", []byte(`{"inputs": [{"name": "customer_id", "shape": [1, 1], "datatype": "INT64", "data": [[4711]]}]}`), -1, "4711", true},
		{"JSON string", "s", []byte(`{"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "data": ["abc"]}]}`), -1, "abc", true},
		{"absent", "other", body, len(header), "", false},
		{"truncated data", "s", body[:len(body)-2], len(header), "", false},
	} {
		got, ok := StickyKeyInfer(nil, tc.body, tc.header, tc.column)
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("%s: %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	got, ok := StickyKeyTensors(nil, []Tensor{{Name: "customer_id", Datatype: DatatypeInt64, Int64: []int64{4711}}}, "customer_id")
	if string(got) != "4711" || !ok {
		t.Errorf("tensors: %q, %v; want 4711", got, ok)
	}
}
