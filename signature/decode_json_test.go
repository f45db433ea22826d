package signature

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

var nan32 = float32(math.NaN())

// missingNaN are the default limits with missing_values: nan.
var missingNaN = Limits{MissingValues: MissingNaN}

// testPlans are the plans decode tests run against, by name.
func testPlans(t testing.TB) map[string]*Plan {
	t.Helper()
	mk := func(inputs, params string, graph ...GraphTensor) *Plan {
		var sig *Signature
		if inputs != "" || params != "" {
			sig = mustSig(t, inputs, "", params)
		}
		return mustPlan(t, sig, graph)
	}
	return map[string]*Plan{
		"v1": recordedPlan(t, "churn-gbm", 1),
		"v2": recordedPlan(t, "churn-gbm", 2),
		"v3": recordedPlan(t, "churn-gbm", 3),
		// Columns matched by name to several inputs; c is only validated.
		"mixed": mk(`[{"type": "long", "name": "a"}, {"type": "double", "name": "b", "required": false}, {"type": "string", "name": "c", "required": false}, {"type": "boolean", "name": "d"}, {"type": "integer", "name": "e", "required": false}]`, "",
			gt("a", Int64, -1), gt("b", Float64, -1, 1), gt("d", Bool, -1)),
		"unnamed":  mk(`[{"type": "double"}, {"type": "double"}]`, "", gt("x", Float64, -1, 2)),
		"onecol":   mk(`[{"type": "long", "name": "n"}]`, "", gt("n", Int64, -1)),
		"strcol":   mk(`[{"type": "string", "name": "s"}, {"type": "binary", "name": "bin", "required": false}]`, "", gt("s", String, -1), gt("bin", String, -1)),
		"complex":  mk(`[{"type": "double", "name": "x"}, {"type": "array", "items": {"type": "long"}, "name": "tags"}, {"type": "object", "properties": {"k": {"type": "string"}, "o": {"type": "double", "required": false}}, "name": "meta", "required": false}, {"type": "double", "name": "y"}, {"type": "map", "values": {"type": "array", "items": {"type": "boolean"}}, "name": "flags", "required": false}]`, "", gt("x", Float32, -1), gt("y", Float32, -1)),
		"datetime": mk(`[{"type": "double", "name": "x"}, {"type": "datetime", "name": "when", "required": false}, {"type": "double", "name": "y"}]`, "", gt("x", Float32, -1), gt("y", Float32, -1)),
		"int32":    mk(`[{"type": "integer", "name": "i"}, {"type": "float", "name": "f"}]`, "", gt("i", Int32, -1), gt("f", Float64, -1)),
		"cube":     mk(`[{"name": "img", "type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 2, 2]}}]`, "", gt("img", Float32, -1, 2, 2)),
		"itensor":  mk(`[{"name": "ids", "type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1, 2]}}, {"name": "mask", "type": "tensor", "tensor-spec": {"dtype": "bool", "shape": [-1, 2]}}]`, "", gt("ids", Int64, -1, 2), gt("mask", Bool, -1, 2)),
		"scalar":   mk(`[{"name": "k", "type": "tensor", "tensor-spec": {"dtype": "int64", "shape": []}}]`, "", gt("k", Int64)),
		"fixed":    mk(`[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}]`, "", gt("x", Float32, 2, 2)),
		"col1":     mk(`[{"name": "v", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 1]}}]`, "", gt("v", Float32, -1, 1)),
		"nosig1":   mk("", "", gt("input", Float32, -1, -1)),
		"nosigN":   mk("", "", graphV3...),
		"params": mk(`[{"type": "double", "name": "x"}]`, `[{"name": "threshold", "default": 0.5, "shape": null, "type": "double"}, {"name": "k", "default": 3, "shape": null, "type": "long"}, {"name": "ids", "default": [1], "shape": [-1], "type": "integer"}, {"name": "on", "default": true, "shape": null, "type": "boolean"}, {"name": "day", "default": "2024-01-01", "shape": null, "type": "datetime"}, {"name": "cfg", "default": {"a": "x"}, "shape": null, "type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "long", "required": false}}}]`,
			gt("x", Float64, -1)),
	}
}

// feed is an expected Feed: its shape and its data as a typed slice.
type feed struct {
	shape []int64
	data  any
}

func f32s(v ...float32) []float32 { return v }
func f64s(v ...float64) []float64 { return v }
func i64s(v ...int64) []int64     { return v }
func i32s(v ...int32) []int32     { return v }
func bools(v ...bool) []bool      { return v }
func strs(v ...string) []string   { return v }
func shp(v ...int64) []int64      { return v }

func feedData(f *Feed) any {
	switch f.DType {
	case Float32:
		return f.F32
	case Float64:
		return f.F64
	case Int32:
		return f.I32
	case Int64:
		return f.I64
	case Bool:
		return f.B
	case String:
		return f.S
	}
	return nil
}

// sameData compares typed slices, with NaN equal to NaN.
func sameData(got, want any) bool {
	switch w := want.(type) {
	case []float32:
		g, ok := got.([]float32)
		return ok && f32Eq(g, w)
	case []float64:
		g, ok := got.([]float64)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range g {
			if g[i] != w[i] && !(math.IsNaN(g[i]) && math.IsNaN(w[i])) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(got, want)
}

type decodeCase struct {
	name   string
	plan   string
	format Format // zero means FormatJSON
	body   string
	limits Limits
	// On success:
	rows    int
	records bool
	feeds   []feed // one per graph input; nil entries are not checked
	// On failure:
	code string
	msg  []string // substrings the message must contain
}

func runDecodeCases(t *testing.T, cases []decodeCase) {
	t.Helper()
	plans := testPlans(t)
	for _, tc := range cases {
		t.Run(tc.plan+"/"+tc.name, func(t *testing.T) {
			p := plans[tc.plan]
			if p == nil {
				t.Fatalf("no plan %q", tc.plan)
			}
			format := tc.format
			if format == 0 {
				format = FormatJSON
			}
			b, e := decodeWith(t, p, format, tc.body, tc.limits)
			defer p.PutBatch(b)
			if tc.code != "" {
				if e == nil {
					t.Fatalf("Decode succeeded (rows %d, feeds %v); want %s", b.Rows, b.Feeds, tc.code)
				}
				if e.Code != tc.code {
					t.Errorf("code %s; want %s (message %q)", e.Code, tc.code, e.Message)
				}
				for _, m := range tc.msg {
					if !strings.Contains(e.Message, m) {
						t.Errorf("message %q; want it to contain %q", e.Message, m)
					}
				}
				if len(e.Message) > 400 {
					t.Errorf("message is %d bytes long; messages must not echo inputs", len(e.Message))
				}
				return
			}
			if e != nil {
				t.Fatalf("Decode: %s: %s", e.Code, e.Message)
			}
			if b.Rows != tc.rows || b.Records != tc.records {
				t.Errorf("Rows, Records = %d, %v; want %d, %v", b.Rows, b.Records, tc.rows, tc.records)
			}
			if len(tc.feeds) != len(b.Feeds) {
				t.Fatalf("%d feeds; want %d", len(b.Feeds), len(tc.feeds))
			}
			for i, w := range tc.feeds {
				if w.data == nil {
					continue
				}
				f := &b.Feeds[i]
				if !shapeEq(f.Shape, w.shape) || !sameData(feedData(f), w.data) {
					t.Errorf("feed %q = %v %v; want %v %v", f.Name, f.Shape, feedData(f), w.shape, w.data)
				}
				if n := f.Len(); int64(n) != product(f.Shape) {
					t.Errorf("feed %q has %d values for shape %v", f.Name, n, f.Shape)
				}
			}
		})
	}
}

func product(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

const (
	bad = CodeBadRequest
	ipv = CodeInvalidParameterValue
)

var v1Row = f32s(37, 36, 1306.52, 1)

func TestDecodeDataFrame(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		// Pre-cast rules (MLflow §8.5).
		{name: "split", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`,
			rows: 1, records: true, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "columns reordered, extra ignored", plan: "v1", body: `{"dataframe_split": {"columns": ["extra", "contract_months", "total_charges", "monthly_charges", "tenure"], "data": [["x", 1, 1306.52, 36, 37]], "index": [7]}}`,
			rows: 1, records: true, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "ints in double, floats truncate in long", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37.9, 36, 1306.52, -1.5]]}}`,
			rows: 1, records: true, feeds: []feed{{shp(1, 4), f32s(37, 36, 1306.52, -1)}}},
		{name: "numeric strings", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [["37", "3.5", " 1e3 ", true]]}}`,
			rows: 1, records: true, feeds: []feed{{shp(1, 4), f32s(37, 3.5, 1000, 1)}}},
		{name: "null in double is NaN with missing_values nan", plan: "v1", limits: missingNaN, body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, null, NaN, 1], [1, Infinity, -Infinity, 2]]}}`,
			rows: 2, records: true, feeds: []feed{{shp(2, 4), f32s(37, nan32, nan32, 1, 1, float32(math.Inf(1)), float32(math.Inf(-1)), 2)}}},
		{name: "exponent and big int in long", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[1e2, 0, 0, 9007199254740993]]}}`,
			rows: 1, records: true, feeds: []feed{{shp(1, 4), f32s(100, 0, 0, 9007199254740992)}}},
		{name: "null in double refused", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 1, 2, 1], [37, null, 2, 1]]}}`,
			code: bad, msg: []string{`column "monthly_charges" (double), row 1: null is not a finite number`, "missing_values: nan"}},
		{name: "NaN in double refused", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 1, NaN, 1]]}}`,
			code: bad, msg: []string{`column "total_charges" (double), row 0: the number NaN is not a finite number`}},
		{name: "Infinity in double refused", plan: "v1", body: `{"dataframe_records": [{"tenure": 37, "monthly_charges": Infinity, "total_charges": 1, "contract_months": 1}]}`,
			code: bad, msg: []string{`column "monthly_charges" (double), row 0: the number Infinity is not a finite number`}},
		{name: "-Infinity in double refused", plan: "v1", body: `{"dataframe_records": [{"tenure": 37, "monthly_charges": -Infinity, "total_charges": 1, "contract_months": 1}]}`,
			code: bad, msg: []string{`the number -Infinity is not a finite number`}},
		{name: "overflow in double refused", plan: "v1", body: `{"dataframe_records": [{"tenure": 37, "monthly_charges": 1e999, "total_charges": 1, "contract_months": 1}]}`,
			code: bad, msg: []string{`column "monthly_charges" (double), row 0: the number Infinity is not a finite number`}},
		{name: "nan string in double refused", plan: "v1", body: `{"dataframe_records": [{"tenure": 37, "monthly_charges": " nan", "total_charges": 1, "contract_months": 1}]}`,
			code: bad, msg: []string{`column "monthly_charges" (double), row 0: the string " nan" is not a finite number`}},
		{name: "records, missing key refused", plan: "v1", body: `{"dataframe_records": [{"tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}, {"tenure": 20, "total_charges": 1927.17, "contract_months": 1}]}`,
			code: bad, msg: []string{`column "monthly_charges" (double), row 1: a missing value is not a finite number`}},
		{name: "null in long refused with missing_values nan", plan: "v1", limits: missingNaN, body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[null, 36.0, 1306.52, 1]]}}`,
			code: bad, msg: []string{`column "tenure" (long), row 0: cannot convert null to long`}},
		{name: "NaN in a tensor input", plan: "v3", body: `{"inputs": {"tenure": [37], "monthly_charges": [NaN], "total_charges": [Infinity], "contract_months": [1]}}`,
			rows: 1, records: false, feeds: []feed{{}, {}, {}, {}}},
		{name: "null in long", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[null, 36.0, 1306.52, 1]]}}`,
			code: bad, msg: []string{`column "tenure" (long), row 0: cannot convert null to long`, "cannot be missing"}},
		{name: "float string in long", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, "1.5"]]}}`,
			code: bad, msg: []string{`column "contract_months" (long), row 0`, `the string "1.5"`}},
		{name: "word in double", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1], [37, "thirty-six dollars and some more cents per month", 1, 1]]}}`,
			code: bad, msg: []string{`column "monthly_charges" (double), row 1`, `"thirty-six dollars and some more cents p"...`}},
		{name: "hex string in double", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, "0x10", 1, 1]]}}`,
			code: bad, msg: []string{`"monthly_charges"`}},
		{name: "out of range long", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[1e19, 36.0, 1306.52, 1]]}}`,
			code: bad, msg: []string{`"tenure"`, "out of range"}},
		{name: "list in long", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[[1, 2], 36.0, 1306.52, 1]]}}`,
			code: bad, msg: []string{`"tenure"`, "a list of 2 items"}},
		// Enforcement (MLflow §8.2).
		{name: "missing column", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges"], "data": [[37, 36.0, 1306.52]]}}`,
			code: ipv, msg: []string{`missing required column "contract_months"`}},
		{name: "missing columns, extra named", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly", "total_charges"], "data": [[37, 36.0, 1306.52]]}}`,
			code: ipv, msg: []string{`columns "monthly_charges", "contract_months"`, `it has "monthly"`}},
		{name: "no columns key", plan: "v1", body: `{"dataframe_split": {"data": [[37, 36.0, 1306.52, 1]]}}`,
			code: ipv, msg: []string{"missing required columns"}},
		{name: "duplicate column", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[1, 2, 3, 4, 5]]}}`,
			code: bad, msg: []string{`column "tenure" appears more than once`}},
		// DataFrame construction.
		{name: "ragged row", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1], [1, 2, 3]]}}`,
			code: bad, msg: []string{"dataframe_split.data[1] has 3 values, but the request has 4 columns"}},
		{name: "row not a list", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [5]}}`,
			code: bad, msg: []string{"dataframe_split.data[0] is a number"}},
		{name: "no rows", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": []}}`,
			code: bad, msg: []string{"no rows"}},
		{name: "no data", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure"]}}`, code: bad, msg: []string{`no "data"`}},
		{name: "extra split key", plan: "v1", body: `{"dataframe_split": {"columns": [], "data": [], "dtype": "x"}}`, code: bad, msg: []string{`the key "dtype"`}},
		{name: "split not an object", plan: "v1", body: `{"dataframe_split": [[1, 2, 3, 4]]}`, code: bad, msg: []string{"dataframe_split must be an object", "got a list"}},
		{name: "index length", plan: "v1", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]], "index": [1, 2]}}`,
			code: bad, msg: []string{"index has 2 entries, but data has 1 rows"}},
		{name: "columns not names", plan: "v1", body: `{"dataframe_split": {"columns": [["a"]], "data": [[1]]}}`, code: bad, msg: []string{"columns must hold column names"}},
		// dataframe_records.
		{name: "records", plan: "v1", body: `{"dataframe_records": [{"contract_months": 1, "tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "x": "ignored"}, {"tenure": 20, "monthly_charges": 96.08, "total_charges": 1927.17, "contract_months": 1}]}`,
			rows: 2, records: true, feeds: []feed{{shp(2, 4), f32s(37, 36, 1306.52, 1, 20, 96.08, 1927.17, 1)}}},
		{name: "records, missing key is null with missing_values nan", plan: "v1", limits: missingNaN, body: `{"dataframe_records": [{"tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}, {"tenure": 20, "total_charges": 1927.17, "contract_months": 1}]}`,
			rows: 2, records: true, feeds: []feed{{shp(2, 4), f32s(37, 36, 1306.52, 1, 20, nan32, 1927.17, 1)}}},
		{name: "records, missing key in long", plan: "v1", body: `{"dataframe_records": [{"tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}, {"monthly_charges": 1, "total_charges": 1927.17, "contract_months": 1}]}`,
			code: bad, msg: []string{`column "tenure" (long), row 1: cannot convert nothing`}},
		{name: "records, duplicate key, last wins", plan: "v1", body: `{"dataframe_records": [{"tenure": 1, "tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}]}`,
			rows: 1, records: true, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "records not a list", plan: "v1", body: `{"dataframe_records": {"tenure": [1]}}`, code: bad, msg: []string{"dataframe_records must be a list of records", "got an object"}},
		{name: "record not an object", plan: "v1", body: `{"dataframe_records": [{"tenure": 1}, [1, 2]]}`, code: bad, msg: []string{"dataframe_records[1] is a list"}},
		{name: "records missing column", plan: "v1", body: `{"dataframe_records": [{"tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52}]}`, code: ipv, msg: []string{`"contract_months"`}},
		{name: "empty records", plan: "v1", body: `{"dataframe_records": []}`, code: bad, msg: []string{"no rows"}},
		// Several inputs, optional and validated-only columns.
		{name: "matched by name", plan: "mixed", body: `{"dataframe_split": {"columns": ["d", "c", "b", "a", "e"], "data": [[true, "x", 1.5, 7, 3], [0, "y", null, "8", 2.9]]}}`,
			rows: 2, records: true, feeds: []feed{{shp(2), i64s(7, 8)}, {shp(2, 1), f64s(1.5, math.NaN())}, {shp(2), bools(true, false)}}},
		{name: "optional unfed column absent", plan: "mixed", body: `{"dataframe_records": [{"a": 1, "b": 2, "d": false}]}`,
			rows: 1, records: true, feeds: []feed{{shp(1), i64s(1)}, {shp(1, 1), f64s(2)}, {shp(1), bools(false)}}},
		{name: "optional fed column absent", plan: "mixed", body: `{"dataframe_records": [{"a": 1, "d": false}]}`,
			code: ipv, msg: []string{`lacks column "b", which the signature marks optional but the model graph needs as input "b"`}},
		{name: "validated column checked", plan: "mixed", body: `{"dataframe_records": [{"a": 1, "b": 2, "d": false, "e": 3e10}]}`,
			code: bad, msg: []string{`column "e" (integer)`, "out of range"}},
		{name: "string column holds number", plan: "mixed", body: `{"dataframe_records": [{"a": 1, "b": 2, "d": false, "c": 5}]}`,
			code: bad, msg: []string{`column "c" (string), row 0: cannot convert the number 5 to string`}},
		{name: "bool from string refused", plan: "mixed", body: `{"dataframe_records": [{"a": 1, "b": 2, "d": "false"}]}`,
			code: bad, msg: []string{`column "d" (boolean)`, "send true or false"}},
		{name: "bool null refused", plan: "mixed", body: `{"dataframe_records": [{"a": 1, "b": 2, "d": null}]}`,
			code: bad, msg: []string{`column "d" (boolean)`, "cannot be missing"}},
		// Unnamed column schemas: only the count is checked.
		{name: "unnamed by position", plan: "unnamed", body: `{"dataframe_split": {"columns": ["p", "q", "r"], "data": [[1, 2, 3], [4, 5, 6]]}}`,
			rows: 2, records: true, feeds: []feed{{shp(2, 2), f64s(1, 2, 4, 5)}}},
		{name: "unnamed, records by key order", plan: "unnamed", body: `{"dataframe_records": [{"q": 1, "p": 2}, {"p": 4, "q": 3}]}`,
			rows: 2, records: true, feeds: []feed{{shp(2, 2), f64s(1, 2, 3, 4)}}},
		{name: "unnamed, too few", plan: "unnamed", body: `{"dataframe_split": {"data": [[1], [2]]}}`,
			code: ipv, msg: []string{"the signature has 2 unnamed columns, but the request has 1"}},
		// Complex and datetime columns are validated, not fed.
		{name: "complex values", plan: "complex", body: `{"dataframe_records": [{"x": 1, "y": 0, "tags": [1, 2], "meta": {"k": "a", "o": 1.5}}, {"x": 2, "y": 0, "tags": []}]}`,
			rows: 2, records: true, feeds: []feed{{shp(2), f32s(1, 2)}, {}}},
		{name: "array item type", plan: "complex", body: `{"dataframe_records": [{"x": 1, "y": 0, "tags": [1, "two"]}]}`,
			code: bad, msg: []string{`column "tags" (array<long>), row 0: item 1: expected a long, got the string "two"`}},
		{name: "object unknown property", plan: "complex", body: `{"dataframe_records": [{"x": 1, "y": 0, "tags": [], "meta": {"k": "a", "z": 1}}]}`,
			code: bad, msg: []string{`unknown property "z"`}},
		{name: "object missing property", plan: "complex", body: `{"dataframe_records": [{"x": 1, "y": 0, "tags": [], "meta": {"o": 1}}]}`,
			code: bad, msg: []string{`missing required property "k"`}},
		{name: "map values", plan: "complex", body: `{"dataframe_records": [{"x": 1, "y": 0, "tags": [], "flags": {"a": [true], "b": []}}, {"x": 1, "y": 0, "tags": [], "flags": null}]}`,
			rows: 2, records: true, feeds: []feed{{shp(2), f32s(1, 1)}, {}}},
		{name: "map value type", plan: "complex", body: `{"dataframe_records": [{"x": 1, "y": 0, "tags": [], "flags": {"a": [true], "b": [1]}}]}`,
			code: bad, msg: []string{`column "flags" (map<string, array<boolean>>), row 0: key "b": item 0: expected a boolean, got the number 1`}},
		{name: "map not an object", plan: "complex", body: `{"dataframe_records": [{"x": 1, "y": 0, "tags": [], "flags": [1]}]}`,
			code: bad, msg: []string{"expected an object (a map with string keys)"}},
		{name: "required array null", plan: "complex", body: `{"dataframe_records": [{"x": 1, "y": 0, "tags": null}]}`,
			code: bad, msg: []string{`column "tags" (array<long>), row 0: missing value`}},
		{name: "datetime", plan: "datetime", body: `{"dataframe_split": {"columns": ["x", "y", "when"], "data": [[1, 0, "2024-05-01T10:00:00"], [2, 0, null]]}}`,
			rows: 2, records: true, feeds: []feed{{shp(2), f32s(1, 2)}, {}}},
		{name: "datetime not a time", plan: "datetime", body: `{"dataframe_split": {"columns": ["x", "y", "when"], "data": [[1, 0, [1]]]}}`,
			code: bad, msg: []string{`column "when" (datetime)`}},
		// Integer and float column types.
		{name: "int32 and float", plan: "int32", body: `{"dataframe_split": {"columns": ["i", "f"], "data": [[2147483647, 0.1], [-5.9, 16777217]]}}`,
			rows: 2, records: true, feeds: []feed{{shp(2), i32s(2147483647, -5)}, {shp(2), f64s(float64(float32(0.1)), 16777216)}}},
		{name: "int32 overflow", plan: "int32", body: `{"dataframe_split": {"columns": ["i", "f"], "data": [[2147483648, 0.1]]}}`,
			code: bad, msg: []string{`column "i" (integer)`}},
		// Strings and binary.
		{name: "strings and binary", plan: "strcol", body: `{"dataframe_split": {"columns": ["s", "bin"], "data": [["caf\u00e9 \"q\"", "aGk="], ["", "aGVs\nbG8="]]}}`,
			rows: 2, records: true, feeds: []feed{{shp(2), strs(`café "q"`, "")}, {shp(2), strs("hi", "hello")}}},
		{name: "bad base64", plan: "strcol", body: `{"dataframe_split": {"columns": ["s", "bin"], "data": [["a", "!!"]]}}`,
			code: bad, msg: []string{`column "bin" (binary), row 0`, "not valid base64"}},
		// DataFrames against tensor signatures (MLflow §8.4).
		{name: "split to unnamed tensor", plan: "v2", body: `{"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": [[37, 36.0, 1306.52, 1]]}}`,
			rows: 1, records: false, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "unnamed tensor, wrong width", plan: "v2", body: `{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[37, 36.0, 1306.52]]}}`,
			code: ipv, msg: []string{"has shape (1, 3), but the model expects (-1, 4)"}},
		{name: "unnamed tensor, one column of lists", plan: "v2", body: `{"dataframe_split": {"columns": ["x"], "data": [[[37, 36.0, 1306.52, 1]]]}}`,
			rows: 1, records: false, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "unnamed tensor, list cells among columns", plan: "v2", body: `{"dataframe_split": {"columns": ["x", "y"], "data": [[[1, 2], [3, 4]]]}}`,
			code: ipv, msg: []string{`column "x" holds lists`}},
		{name: "named tensors", plan: "v3", body: `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months", "extra"], "data": [[37, 36.0, 1306.52, 1, "z"]]}}`,
			rows: 1, records: false, feeds: []feed{{shp(1), f32s(37)}, {shp(1), f32s(36)}, {shp(1), f32s(1306.52)}, {shp(1), f32s(1)}}},
		{name: "named tensors, missing", plan: "v3", body: `{"dataframe_split": {"columns": ["tenure"], "data": [[37]]}}`,
			code: ipv, msg: []string{`missing required inputs "monthly_charges", "total_charges", "contract_months"`}},
		{name: "named tensor of lists", plan: "cube", body: `{"dataframe_split": {"columns": ["img"], "data": [[[1, 2, 3, 4]], [[[5, 6], [7, 8]]]]}}`,
			rows: 2, records: false, feeds: []feed{{shp(2, 2, 2), f32s(1, 2, 3, 4, 5, 6, 7, 8)}}},
		{name: "scalar cells into (-1, 1)", plan: "col1", body: `{"dataframe_split": {"columns": ["v"], "data": [[1], [2]]}}`,
			rows: 2, records: false, feeds: []feed{{shp(2, 1), f32s(1, 2)}}},
		// No signature: a DataFrame feeds the single input with all columns.
		{name: "no signature, one input", plan: "nosig1", body: `{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]]}}`,
			rows: 1, records: true, feeds: []feed{{shp(1, 3), f32s(1, 2, 3)}}},
		{name: "no signature, inputs by name", plan: "nosigN", body: `{"dataframe_records": [{"tenure": 1, "monthly_charges": 2, "total_charges": 3, "contract_months": 4}]}`,
			rows: 1, records: true, feeds: []feed{{shp(1), f32s(1)}, {shp(1), f32s(2)}, {shp(1), f32s(3)}, {shp(1), f32s(4)}}},
		// The graph's fixed dimensions.
		{name: "fixed batch", plan: "fixed", body: `{"dataframe_split": {"data": [[1, 2], [3, 4]]}}`,
			rows: 2, records: false, feeds: []feed{{shp(2, 2), f32s(1, 2, 3, 4)}}},
		{name: "fixed batch, wrong rows", plan: "fixed", body: `{"dataframe_split": {"data": [[1, 2]]}}`,
			code: ipv, msg: []string{"has shape (1, 2), but the model expects (2, 2)"}},
	})
}

func TestDecodeTensorFormats(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{name: "inputs list", plan: "v2", body: `{"inputs": [[37, 36.0, 1306.52, 1], [20, 96.08, 1927.17, "1"]]}`,
			rows: 2, records: false, feeds: []feed{{shp(2, 4), f32s(37, 36, 1306.52, 1, 20, 96.08, 1927.17, 1)}}},
		{name: "instances list", plan: "v2", body: `{"instances": [[37, 36.0, 1306.52, 1]]}`,
			rows: 1, records: false, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "ragged", plan: "v2", body: `{"inputs": [[37, 36.0, 1306.52, 1], [20, 96.08, 1927.17]]}`,
			code: ipv, msg: []string{"ragged nested list: expected a list of 4 items at depth 1, got a list of 3 items"}},
		{name: "ragged scalar", plan: "v2", body: `{"inputs": [[37, 36.0, 1306.52, 1], 5]}`,
			code: ipv, msg: []string{"ragged"}},
		{name: "ragged deeper", plan: "v2", body: `{"inputs": [[37, 36.0, 1306.52, 1], [20, 96.08, 1927.17, [1]]]}`,
			code: ipv, msg: []string{"expected a single value at depth 2"}},
		{name: "rank", plan: "v2", body: `{"inputs": [37, 36.0, 1306.52, 1]}`,
			code: ipv, msg: []string{"the unnamed input has shape (4,), but the model expects (-1, 4)"}},
		{name: "width", plan: "v2", body: `{"inputs": [[1, 2, 3]]}`,
			code: ipv, msg: []string{"has shape (1, 3), but the model expects (-1, 4)"}},
		{name: "unconvertible", plan: "v2", body: `{"inputs": [[37, 36.0, 1306.52, 1], [20, 96.08, "abc", 1]]}`,
			code: bad, msg: []string{"the unnamed input (float32) at [1][2]: cannot convert the string \"abc\" to float32"}},
		{name: "object for unnamed", plan: "v2", body: `{"inputs": {"input": [[1, 2, 3, 4]]}}`,
			code: bad, msg: []string{"one unnamed tensor; send a (nested) list"}},
		{name: "records for unnamed", plan: "v2", body: `{"instances": [{"a": 1}]}`,
			code: ipv, msg: []string{"one unnamed tensor", "not records"}},
		{name: "empty", plan: "v2", body: `{"inputs": []}`, code: bad, msg: []string{"no rows"}},
		{name: "named dict", plan: "v3", body: `{"inputs": {"tenure": [37, 20], "monthly_charges": [36.0, 96.08], "total_charges": [1306.52, 1927.17], "contract_months": [1, 1], "x": 5}}`,
			rows: 2, records: false, feeds: []feed{{shp(2), f32s(37, 20)}, {shp(2), f32s(36, 96.08)}, {shp(2), f32s(1306.52, 1927.17)}, {shp(2), f32s(1, 1)}}},
		{name: "named dict, rows disagree", plan: "v3", body: `{"inputs": {"tenure": [37, 20], "monthly_charges": [36.0], "total_charges": [1306.52, 1927.17], "contract_months": [1, 1]}}`,
			code: ipv, msg: []string{`disagree on the number of rows: "tenure" has 2, "monthly_charges" has 1`}},
		{name: "named dict, missing", plan: "v3", body: `{"inputs": {"tenure": [37], "monthly_charges": [36.0], "total_charges": [1306.52]}}`,
			code: ipv, msg: []string{`missing required input "contract_months"`}},
		{name: "named, plain list", plan: "v3", body: `{"inputs": [[37, 36.0, 1306.52, 1]]}`,
			code: ipv, msg: []string{"named inputs", "send an object"}},
		{name: "instances records", plan: "v3", body: `{"instances": [{"tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}, {"tenure": 20, "monthly_charges": 96.08, "total_charges": 1927.17, "contract_months": 1}]}`,
			rows: 2, records: false, feeds: []feed{{shp(2), f32s(37, 20)}, {shp(2), f32s(36, 96.08)}, {shp(2), f32s(1306.52, 1927.17)}, {shp(2), f32s(1, 1)}}},
		{name: "instances records disagree", plan: "v3", body: `{"instances": [{"tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}, {"tenure": 20, "monthly_charges": 96.08, "total_charges": 1927.17}]}`,
			code: bad, msg: []string{`instances[1] has no "contract_months", but other records have it`}},
		{name: "int and bool tensors", plan: "itensor", body: `{"inputs": {"ids": [[1, 2.7], ["3", true]], "mask": [[true, false], [1, 0]]}}`,
			rows: 2, records: false, feeds: []feed{{shp(2, 2), i64s(1, 2, 3, 1)}, {shp(2, 2), bools(true, false, true, false)}}},
		{name: "int tensor null", plan: "itensor", body: `{"inputs": {"ids": [[1, null]], "mask": [[true, false]]}}`,
			code: bad, msg: []string{`input "ids" (int64) at [0][1]: cannot convert null to int64`}},
		{name: "scalar tensor", plan: "scalar", body: `{"inputs": 7}`,
			rows: 1, records: false, feeds: []feed{{shp(), i64s(7)}}},
		{name: "scalar tensor by name", plan: "scalar", body: `{"inputs": {"k": 8}}`,
			rows: 1, records: false, feeds: []feed{{shp(), i64s(8)}}},
		{name: "float64 spec into float32 graph", plan: "cube", body: `{"inputs": {"img": [[[0.1, 2], [3, 4]]]}}`,
			rows: 1, records: false, feeds: []feed{{shp(1, 2, 2), f32s(0.1, 2, 3, 4)}}},
		{name: "no signature, list", plan: "nosig1", body: `{"inputs": [[1, 2, 3]]}`,
			rows: 1, records: false, feeds: []feed{{shp(1, 3), f32s(1, 2, 3)}}},
		{name: "no signature, by name", plan: "nosig1", body: `{"inputs": {"input": [[1, 2]]}}`,
			rows: 1, records: false, feeds: []feed{{shp(1, 2), f32s(1, 2)}}},
		{name: "no signature, dict", plan: "nosigN", body: `{"inputs": {"tenure": [1], "monthly_charges": [2], "total_charges": [3], "contract_months": [4]}}`,
			rows: 1, records: false, feeds: []feed{{shp(1), f32s(1)}, {shp(1), f32s(2)}, {shp(1), f32s(3)}, {shp(1), f32s(4)}}},
	})
}

func TestDecodeInputsColumns(t *testing.T) {
	runDecodeCases(t, []decodeCase{
		{name: "dict of columns", plan: "v1", body: `{"inputs": {"tenure": [37, 20], "monthly_charges": [36.0, 96.08], "total_charges": [1306.52, 1927.17], "contract_months": [1, 1]}}`,
			rows: 2, records: true, feeds: []feed{{shp(2, 4), f32s(37, 36, 1306.52, 1, 20, 96.08, 1927.17, 1)}}},
		{name: "dict of scalars is one row", plan: "v1", body: `{"inputs": {"tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}}`,
			rows: 1, records: true, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "scalars broadcast", plan: "v1", body: `{"inputs": {"tenure": [37, 20], "monthly_charges": 36.0, "total_charges": [1306.52, 1927.17], "contract_months": 1}}`,
			rows: 2, records: true, feeds: []feed{{shp(2, 4), f32s(37, 36, 1306.52, 1, 20, 36, 1927.17, 1)}}},
		{name: "columns disagree", plan: "v1", body: `{"inputs": {"tenure": [37, 20], "monthly_charges": [36.0], "total_charges": [1306.52, 1927.17], "contract_months": [1, 1]}}`,
			code: ipv, msg: []string{`column "tenure" has 2 values, but column "monthly_charges" has 1`}},
		{name: "list of records", plan: "v1", body: `{"inputs": [{"tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}]}`,
			rows: 1, records: true, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "instances records", plan: "v1", body: `{"instances": [{"tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}]}`,
			rows: 1, records: true, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "plain rows for named columns", plan: "v1", body: `{"inputs": [[37, 36.0, 1306.52, 1]]}`,
			code: ipv, msg: []string{"the signature names its columns"}},
		{name: "single value for four columns", plan: "v1", body: `{"inputs": 5}`,
			code: ipv, msg: []string{"has 4 columns, but the request is a single value"}},
		{name: "single column list", plan: "onecol", body: `{"inputs": [1, 2, 3]}`,
			rows: 3, records: true, feeds: []feed{{shp(3), i64s(1, 2, 3)}}},
		{name: "single column scalar", plan: "onecol", body: `{"inputs": 4}`,
			rows: 1, records: true, feeds: []feed{{shp(1), i64s(4)}}},
		{name: "unnamed rows", plan: "unnamed", body: `{"inputs": [[1, 2], [3, 4]]}`,
			rows: 2, records: true, feeds: []feed{{shp(2, 2), f64s(1, 2, 3, 4)}}},
		{name: "unnamed ragged rows", plan: "unnamed", body: `{"inputs": [[1, 2], [3]]}`,
			code: bad, msg: []string{"inputs[1] has 1 values, but row 0 has 2"}},
		{name: "unnamed dict", plan: "unnamed", body: `{"inputs": {"a": [1]}}`,
			code: bad, msg: []string{"columns are unnamed; send a list of rows"}},
		{name: "complex columns make one record", plan: "complex", body: `{"inputs": {"x": 1.5, "y": 2, "tags": [1, 2, 3]}}`,
			rows: 1, records: true, feeds: []feed{{shp(1), f32s(1.5)}, {}}},
	})
}

func TestDecodeEnvelope(t *testing.T) {
	longKey := strings.Repeat("k", 100)
	runDecodeCases(t, []decodeCase{
		{name: "empty body", plan: "v1", body: " \n", code: bad, msg: []string{"empty"}},
		{name: "malformed", plan: "v1", body: `{"dataframe_split": `, code: bad, msg: []string{"malformed JSON at byte 20: expected a value, got the end of the body"}},
		{name: "bad token", plan: "v1", body: `{"inputs": [1, 2,, 3]}`, code: bad, msg: []string{"malformed JSON at byte 17: expected a value, got ','"}},
		{name: "trailing data", plan: "v1", body: `{"inputs": [1]} x`, code: bad, msg: []string{"byte 16: extra data"}},
		{name: "leading zero", plan: "v1", body: `{"inputs": [01]}`, code: bad, msg: []string{"byte 13: expected ',' or ']', got '1'"}},
		{name: "bad escape", plan: "v1", body: `{"inputs": ["\x"]}`, code: bad, msg: []string{"byte 13: invalid escape"}},
		{name: "control char", plan: "v1", body: "{\"inputs\": [\"a\tb\"]}", code: bad, msg: []string{"byte 14: control character"}},
		{name: "invalid utf-8", plan: "v1", body: "{\"inputs\": [\"\xff\"]}", code: bad, msg: []string{"byte 13: invalid UTF-8"}},
		{name: "lower-case nan", plan: "v1", body: `{"inputs": [nan]}`, code: bad, msg: []string{"byte 12"}},
		{name: "deep nesting", plan: "v1", body: `{"inputs": ` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`, code: bad, msg: []string{"nesting deeper than 256 levels"}},
		{name: "top-level list", plan: "v1", body: `[{"tenure": 1}]`, code: bad, msg: []string{"must be a JSON object", "got a list"}},
		{name: "top-level string", plan: "v1", body: `"x"`, code: bad, msg: []string{"got a string"}},
		{name: "no format key", plan: "v1", body: `{"rows": [[1]], "` + longKey + `": 1}`, code: bad, msg: []string{`exactly one of "dataframe_split", "dataframe_records", "instances" or "inputs"; got the keys "rows", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"...`}},
		{name: "empty object", plan: "v1", body: `{}`, code: bad, msg: []string{"got an empty object"}},
		{name: "two format keys", plan: "v1", body: `{"inputs": [1], "instances": [1]}`, code: bad, msg: []string{`got "inputs", "instances"`}},
		{name: "params not a dict", plan: "v1", body: `{"inputs": [1], "params": [1]}`, code: ipv, msg: []string{"params must be a dictionary", "got a list"}},
		{name: "params ignored without schema", plan: "v1", body: `{"dataframe_records": [{"tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}], "params": {"anything": [1, {}]}, "other": 1}`,
			rows: 1, records: true, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "escaped keys", plan: "v1", body: `{"dataframe_records": [{"ten\u0075re": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}]}`,
			rows: 1, records: true, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "whitespace everywhere", plan: "v1", body: " \r\n\t{ \"inputs\" : { \"tenure\" : 37 , \"monthly_charges\" : 36.0 , \"total_charges\" : 1306.52 , \"contract_months\" : 1 } } \n",
			rows: 1, records: true, feeds: []feed{{shp(1, 4), v1Row}}},
		{name: "Infinity inside strings is kept", plan: "strcol", body: `{"inputs": {"s": ["Infinity", "-Infinity"], "bin": ["", "SW5maW5pdHk="]}}`,
			rows: 2, records: true, feeds: []feed{{shp(2), strs("Infinity", "-Infinity")}, {shp(2), strs("", "Infinity")}}},
	})
}

func TestDecodeParams(t *testing.T) {
	body := func(params string) string {
		return `{"inputs": {"x": [1]}, "params": ` + params + `}`
	}
	ok := []feed{{shp(1), f64s(1)}}
	runDecodeCases(t, []decodeCase{
		{name: "valid", plan: "params", body: body(`{"threshold": 1, "k": 5, "ids": [1, 2], "on": false, "day": "2024-05-01T10:00:00", "cfg": {"a": "y", "b": 2}, "unknown": "x"}`), rows: 1, records: true, feeds: ok},
		{name: "nulls", plan: "params", body: body(`{"threshold": null, "ids": null, "cfg": null}`), rows: 1, records: true, feeds: ok},
		{name: "params null", plan: "params", body: body(`null`), rows: 1, records: true, feeds: ok},
		{name: "string for double", plan: "params", body: body(`{"threshold": "0.5"}`), code: ipv, msg: []string{`params: "threshold" must be a double; got the string "0.5"`}},
		{name: "float for long", plan: "params", body: body(`{"k": 1.5}`), code: ipv, msg: []string{`"k" must be a long`}},
		{name: "int32 overflow", plan: "params", body: body(`{"ids": [1, 3000000000]}`), code: ipv, msg: []string{`params: "ids"[1] must be an integer`}},
		{name: "list expected", plan: "params", body: body(`{"ids": 1}`), code: ipv, msg: []string{`"ids" must be a list of integer values`}},
		{name: "scalar expected", plan: "params", body: body(`{"k": [1]}`), code: ipv, msg: []string{`"k" must be a long; got a list of 1 item`}},
		{name: "bool", plan: "params", body: body(`{"on": 1}`), code: ipv, msg: []string{`"on" must be a boolean`}},
		{name: "datetime", plan: "params", body: body(`{"day": "tomorrow"}`), code: ipv, msg: []string{`"day" must be a datetime`}},
		{name: "object property", plan: "params", body: body(`{"cfg": {"a": 1}}`), code: ipv, msg: []string{`params: "cfg" property "a": expected a string`}},
		{name: "object missing property", plan: "params", body: body(`{"cfg": {"b": 1}}`), code: ipv, msg: []string{`missing required property "a"`}},
		{name: "object not an object", plan: "params", body: body(`{"cfg": "a"}`), code: ipv, msg: []string{`"cfg" must be an object`}},
	})
}

// TestDecodeReuse decodes requests of different sizes and kinds into one
// batch, checking that nothing leaks from one request into the next.
func TestDecodeReuse(t *testing.T) {
	p := recordedPlan(t, "churn-gbm", 1)
	b := p.GetBatch()
	defer p.PutBatch(b)
	want := loadBatch16(t)
	reqs := batch16Requests(t, want)
	for i := range 3 {
		for _, name := range []string{"dataframe_split", "csv", "inputs-columns", "dataframe_records"} {
			r := reqs[name]
			if err := p.Decode(r.format, []byte(r.body), b); err != nil {
				t.Fatalf("round %d %s: %v", i, name, err)
			}
			checkRows(t, p, b, want, 16)
			if err := p.Decode(FormatJSON, []byte(`{"inputs": {"tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}}`), b); err != nil {
				t.Fatal(err)
			}
			checkRows(t, p, b, want, 1)
			if err := p.Decode(FormatJSON, []byte(`{"inputs": 1}`), b); err == nil {
				t.Fatal("Decode of a bad request succeeded")
			}
		}
	}
}

func TestDecodeForeignBatchPanics(t *testing.T) {
	p1 := recordedPlan(t, "churn-gbm", 1)
	p2 := recordedPlan(t, "churn-gbm", 2)
	b := p2.GetBatch()
	defer func() {
		if recover() == nil {
			t.Error("Decode with another plan's batch did not panic")
		}
		p2.PutBatch(b)
	}()
	_ = p1.Decode(FormatJSON, []byte(`{"inputs": [[1, 2, 3, 4]]}`), b)
}

func TestDecodeUnknownFormat(t *testing.T) {
	p := recordedPlan(t, "churn-gbm", 1)
	b, e := decodeErr(t, p, Format(9), "x")
	defer p.PutBatch(b)
	if e == nil || e.Code != bad {
		t.Errorf("Decode(Format(9)) = %v; want a %s", e, bad)
	}
}

func TestPoolCap(t *testing.T) {
	p := recordedPlan(t, "churn-gbm", 2)
	b := p.GetBatch()
	var sb strings.Builder
	sb.WriteString(`{"inputs": [`)
	for i := range maxPooledRows + 1 {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("[1, 2, 3, 4]")
	}
	sb.WriteString("]}")
	if err := p.Decode(FormatJSON, []byte(sb.String()), b); err != nil {
		t.Fatal(err)
	}
	if b.Rows != maxPooledRows+1 {
		t.Fatalf("Rows = %d", b.Rows)
	}
	if b.retained() <= maxPooledBytes && b.scratch.maxRows <= maxPooledRows {
		t.Fatalf("a %d-row batch is within the pool's cap (%d bytes retained)", b.Rows, b.retained())
	}
	small := p.GetBatch()
	if err := p.Decode(FormatJSON, []byte(`{"inputs": [[1, 2, 3, 4]]}`), small); err != nil {
		t.Fatal(err)
	}
	if small.retained() > maxPooledBytes || small.scratch.maxRows > maxPooledRows {
		t.Fatalf("a 1-row batch exceeds the pool's cap")
	}
	p.PutBatch(small)
	p.PutBatch(b) // dropped
	p.PutBatch(nil)
	p.PutBatch(recordedPlan(t, "churn-gbm", 1).GetBatch()) // another plan's: ignored
}

func ExamplePlan_Decode() {
	sig, _ := ParseSignature(`[{"type": "long", "name": "tenure"}, {"type": "double", "name": "monthly_charges"}]`, "", "")
	plan, _ := Compile(sig, []GraphTensor{{Name: "input", DType: Float32, Shape: []int64{-1, 2}}})
	b := plan.GetBatch()
	defer plan.PutBatch(b)
	err := plan.Decode(FormatJSON, []byte(`{"dataframe_records": [{"tenure": 37, "monthly_charges": 36.5}]}`), b)
	fmt.Println(err, b.Rows, b.Records, b.Feeds[0].Shape, b.Feeds[0].F32)
	err = plan.Decode(FormatJSON, []byte(`{"dataframe_records": [{"tenure": "x", "monthly_charges": 36.5}]}`), b)
	fmt.Println(err.(*Error).Code, err)
	// Output:
	// <nil> 1 true [1 2] [37 36.5]
	// BAD_REQUEST column "tenure" (long), row 0: cannot convert the string "x" to long
}

// TestDecodeManyColumns decodes records with more keys than are searched
// linearly, for a graph without a signature that takes them all.
func TestDecodeManyColumns(t *testing.T) {
	p := mustPlan(t, nil, []GraphTensor{gt("x", Float64, -1, -1)})
	var sb strings.Builder
	sb.WriteString(`{"dataframe_records": [`)
	var want []float64
	for r := range 3 {
		if r > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('{')
		for c := range 40 {
			if c > 0 {
				sb.WriteString(", ")
			}
			// Later records list their keys in another order.
			k := c
			if r > 0 {
				k = 39 - c
			}
			fmt.Fprintf(&sb, `"c%d": %d`, k, r*100+k)
		}
		sb.WriteByte('}')
		for c := range 40 {
			want = append(want, float64(r*100+c))
		}
	}
	sb.WriteString("]}")
	for range 2 {
		b := mustDecode(t, p, FormatJSON, sb.String())
		if f := b.Feeds[0]; !shapeEq(f.Shape, shp(3, 40)) || !sameData(f.F64, want) {
			t.Errorf("feed = %v %v; want (3, 40) %v", f.Shape, f.F64, want)
		}
		p.PutBatch(b)
	}
}
