package signature

import (
	"context"
	"errors"
	"sort"
	"testing"
)

// fuzzPlans are the plans request fuzzers decode against, in a fixed order.
func fuzzPlans(f *testing.F) []*Plan {
	f.Helper()
	plans := testPlans(f)
	names := make([]string, 0, len(plans))
	for name := range plans {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]*Plan, len(names))
	for i, name := range names {
		out[i] = plans[name]
	}
	return out
}

// checkDecoded checks Decode's contract on any input: an error is an
// *Error with one of MLflow's codes; a success has positive Rows and feeds
// whose data fills their shapes, which fit the graph's.
func checkDecoded(t *testing.T, p *Plan, b *Batch, err error) {
	t.Helper()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Decode error %T %v; want *Error", err, err)
		}
		if e.Code != CodeBadRequest && e.Code != CodeInvalidParameterValue || e.Message == "" {
			t.Fatalf("Decode error %+v", e)
		}
		return
	}
	if b.Rows <= 0 {
		t.Fatalf("Rows = %d after a successful Decode", b.Rows)
	}
	for i := range b.Feeds {
		fd := &b.Feeds[i]
		in := p.Inputs()[i]
		if int64(fd.Len()) != product(fd.Shape) {
			t.Fatalf("feed %q has %d values for shape %v", fd.Name, fd.Len(), fd.Shape)
		}
		if len(fd.Shape) != len(in.Shape) {
			t.Fatalf("feed %q has shape %v; the graph takes %v", fd.Name, fd.Shape, in.Shape)
		}
		for k, d := range in.Shape {
			if d >= 0 && fd.Shape[k] != d {
				t.Fatalf("feed %q has shape %v; the graph takes %v", fd.Name, fd.Shape, in.Shape)
			}
		}
	}
}

// fuzzLimits are small limits that fuzzed bodies often exceed.
var fuzzLimits = Limits{MaxRows: 3, MaxElements: 12}

// checkLimited decodes body within fuzzLimits and checks that Measure and
// DecodeLimited agree on the limit a body exceeds, and that what decodes
// stays within the limits.
func checkLimited(t *testing.T, p *Plan, f Format, body []byte) {
	t.Helper()
	_, merr := p.Measure(f, body, fuzzLimits)
	b := p.GetBatch()
	defer p.PutBatch(b)
	err := p.DecodeLimited(context.Background(), f, body, b, fuzzLimits)
	checkDecoded(t, p, b, err)
	var me, de *Error
	if errors.As(merr, &me) && me.Limit != "" && (!errors.As(err, &de) || de.Limit != me.Limit) {
		t.Fatalf("Measure refused the body for %s, DecodeLimited with %v", me.Limit, err)
	}
	if err != nil {
		return
	}
	if merr != nil {
		t.Fatalf("Measure refused a body DecodeLimited accepts: %v", merr)
	}
	if b.Rows > fuzzLimits.MaxRows {
		t.Fatalf("%d rows decoded within max_rows %d", b.Rows, fuzzLimits.MaxRows)
	}
	for i := range b.Feeds {
		if n := b.Feeds[i].Len(); n > fuzzLimits.MaxElements {
			t.Fatalf("feed %q has %d values within max_elements %d", b.Feeds[i].Name, n, fuzzLimits.MaxElements)
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`,
		`{"dataframe_records": [{"tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}]}`,
		`{"instances": [[37.0, 36.0, 1306.52001953125, 1.0]]}`,
		`{"inputs": {"tenure": [37.0], "monthly_charges": [36.0], "total_charges": [1306.5], "contract_months": [1.0]}, "params": {"threshold": 0.2}}`,
		`{"inputs": [[[1, 2], [3, 4]]], "params": null}`,
		`{"inputs": {"ids": [[1, 2]], "mask": [[true, false]]}}`,
		`{"inputs": [NaN, Infinity, -Infinity, "x", null]}`,
	} {
		f.Add([]byte(s))
	}
	plans := fuzzPlans(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, p := range plans {
			b := p.GetBatch()
			err := p.Decode(FormatJSON, body, b)
			checkDecoded(t, p, b, err)
			p.PutBatch(b)
			checkLimited(t, p, FormatJSON, body)
		}
	})
}

func FuzzDecodeCSV(f *testing.F) {
	for _, s := range []string{
		"tenure,monthly_charges,total_charges,contract_months\n37,36.0,1306.52,1",
		"s,bin\r\n\"a,\"\"b\"\"\",aGk=\r\n",
		"a,b\n1,\n,2\n\n",
		"v\n1\n2\n",
	} {
		f.Add([]byte(s))
	}
	plans := fuzzPlans(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, p := range plans {
			b := p.GetBatch()
			err := p.Decode(FormatCSV, body, b)
			checkDecoded(t, p, b, err)
			p.PutBatch(b)
			checkLimited(t, p, FormatCSV, body)
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	f.Add(colsV1, `[{"type": "float", "name": "probability"}]`, "")
	f.Add(tensorV2, `[{"name": "probability", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 1]}}]`, "null")
	f.Add(`[{"type": "array", "items": {"type": "object", "properties": {"a": {"type": "map", "values": {"type": "any"}}}}, "name": "x", "required": false}]`, "", `[{"name": "k", "default": [1], "shape": [-1], "type": "long"}]`)
	graphs := [][]GraphTensor{graphV1, graphV3, {gt("x", String, -1)}, {gt("a", Int64, -1, 1), gt("x", Float64, -1)}}
	f.Fuzz(func(t *testing.T, inputs, outputs, params string) {
		s, err := ParseSignature(inputs, outputs, params)
		if err != nil {
			return
		}
		_ = s.Summary()
		for _, g := range graphs {
			p, err := Compile(s, g)
			if err != nil {
				continue
			}
			b := p.GetBatch()
			err = p.Decode(FormatJSON, []byte(`{"inputs": {"x": [1], "a": [1], "tenure": [1], "monthly_charges": [1], "total_charges": [1], "contract_months": [1]}, "params": {"k": [1]}}`), b)
			checkDecoded(t, p, b, err)
			p.PutBatch(b)
		}
	})
}

func FuzzParseMLmodel(f *testing.F) {
	for _, m := range []struct {
		name    string
		version int
	}{{"churn-gbm", 1}, {"churn-gbm", 2}, {"churn-gbm", 3}, {"churn-sk", 1}} {
		f.Add(readFile(f, modelDir(m.name, m.version)+"/MLmodel"))
	}
	f.Add([]byte("flavors:\n  onnx:\n    data: model.onnx\n    onnx_session_options:\n      intra_op_num_threads: 2\n      extra_session_config: {a: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMLmodel(data)
		if err != nil {
			return
		}
		if m.Signature != nil {
			_ = m.Signature.Summary()
		}
	})
}
