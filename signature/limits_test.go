package signature

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fastjson"
)

// splitRows returns a dataframe_split request for churn-gbm v1 with n rows.
func splitRows(n int) string {
	var sb strings.Builder
	sb.WriteString(`{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("[" + strconv.Itoa(i%72) + ", 36.5, 1306.52, 12]")
	}
	sb.WriteString("]}}")
	return sb.String()
}

// csvRows returns a CSV request for churn-gbm v1 with n rows.
func csvRows(n int) string {
	var sb strings.Builder
	sb.WriteString("tenure,monthly_charges,total_charges,contract_months\n")
	for range n {
		sb.WriteString("1,36.5,1306.52,12\n")
	}
	return sb.String()
}

// repeat joins n copies of s with commas.
func repeat(s string, n int) string {
	return strings.TrimSuffix(strings.Repeat(s+",", n), ",")
}

func TestPlanLimits(t *testing.T) {
	v1 := recordedPlan(t, "churn-gbm", 1)
	tests := []struct {
		plan     *Plan
		in, want Limits
	}{
		{v1, Limits{}, Limits{MaxRows: DefaultMaxElements / 4, MaxElements: DefaultMaxElements}},
		{v1, Limits{MaxElements: 100}, Limits{MaxRows: 25, MaxElements: 100}},
		{v1, Limits{MaxElements: 2}, Limits{MaxRows: 1, MaxElements: 2}},
		{v1, Limits{MaxRows: 7}, Limits{MaxRows: 7, MaxElements: DefaultMaxElements}},
		{mustPlan(t, nil, []GraphTensor{gt("img", Float32, -1, 3, 32, 32)}), Limits{}, Limits{MaxRows: DefaultMaxElements / 3072, MaxElements: DefaultMaxElements}},
		{mustPlan(t, nil, []GraphTensor{gt("text", String, -1, -1)}), Limits{}, Limits{MaxRows: DefaultMaxElements, MaxElements: DefaultMaxElements}},
		{mustPlan(t, nil, []GraphTensor{gt("a", Float32, -1, 2), gt("b", Int64, -1, 3)}), Limits{MaxElements: 50}, Limits{MaxRows: 10, MaxElements: 50}},
	}
	for i, tt := range tests {
		if got := tt.plan.Limits(tt.in); got != tt.want {
			t.Errorf("%d: Limits(%+v) = %+v; want %+v", i, tt.in, got, tt.want)
		}
	}
}

// TestDecodeLimits refuses requests over their limits with an *Error that
// names the limit, from Measure and DecodeLimited alike, and accepts those
// at the limit.
func TestDecodeLimits(t *testing.T) {
	v1 := recordedPlan(t, "churn-gbm", 1)
	v2 := recordedPlan(t, "churn-gbm", 2)
	packed := mustPlan(t, nil, []GraphTensor{gt("x", Float32, -1, -1)})
	var disjoint strings.Builder // records that share no key: rows × keys cells
	for i := range 2000 {
		if i > 0 {
			disjoint.WriteByte(',')
		}
		disjoint.WriteString(`{"k` + strconv.Itoa(i) + `": 1}`)
	}
	tests := []struct {
		name   string
		plan   *Plan
		format Format
		body   string
		lim    Limits
		limit  string // "" for success
		msg    string
	}{
		{name: "rows at the limit", plan: v1, format: FormatJSON, body: splitRows(10), lim: Limits{MaxRows: 10}},
		{name: "rows over the limit", plan: v1, format: FormatJSON, body: splitRows(11), lim: Limits{MaxRows: 10},
			limit: "max_rows", msg: "the request has more than 10 rows (max_rows)"},
		{name: "default rows of v1", plan: v1, format: FormatJSON, body: splitRows(DefaultMaxElements/4 + 1),
			limit: "max_elements", msg: "the request holds more than 1048576 values (max_elements)"},
		{name: "elements over the limit", plan: v1, format: FormatJSON, body: splitRows(3), lim: Limits{MaxRows: 100, MaxElements: 10},
			limit: "max_elements", msg: "the request holds more than 10 values (max_elements)"},
		{name: "an escaped format key", plan: v1, format: FormatJSON,
			body: strings.Replace(splitRows(11), "dataframe_split", `dataframe\u005fsplit`, 1), lim: Limits{MaxRows: 10},
			limit: "max_rows", msg: "more than 10 rows"},
		{name: "records", plan: v1, format: FormatJSON,
			body: `{"dataframe_records": [` + repeat(`{"tenure": 1, "monthly_charges": 2, "total_charges": 3, "contract_months": 4}`, 6) + `]}`,
			lim:  Limits{MaxRows: 5}, limit: "max_rows", msg: "more than 5 rows"},
		{name: "columns of an inputs object", plan: v1, format: FormatJSON,
			body: `{"inputs": {"tenure": [` + repeat("1", 6) + `], "monthly_charges": 2, "total_charges": 3, "contract_months": 4}}`,
			lim:  Limits{MaxRows: 5}, limit: "max_rows", msg: "more than 5 rows"},
		{name: "tensor rows", plan: v2, format: FormatJSON, body: `{"inputs": [` + repeat("[1, 2, 3, 4]", 6) + `]}`,
			lim: Limits{MaxRows: 5}, limit: "max_rows", msg: "more than 5 rows"},
		{name: "values outside the data", plan: v2, format: FormatJSON,
			body: `{"inputs": [[1, 2, 3, 4]], "ignored": [` + repeat("0", 2000) + `]}`, lim: Limits{MaxRows: 10, MaxElements: 100},
			limit: "max_elements", msg: "the request body holds more than 1244 JSON values"},
		{name: "an index", plan: v1, format: FormatJSON,
			body: strings.Replace(splitRows(250), `"data"`, `"index": [`+repeat("7", 250)+`], "data"`, 1),
			lim:  Limits{MaxElements: 1000}},
		{name: "records that share no key", plan: packed, format: FormatJSON,
			body:  `{"dataframe_records": [` + disjoint.String() + `]}`,
			limit: "max_elements", msg: "dataframe_records: 2000 rows of 2000 values each make 4000000 values, more than 1048576 (max_elements)"},
		{name: "csv rows", plan: v1, format: FormatCSV, body: csvRows(11), lim: Limits{MaxRows: 10},
			limit: "max_rows", msg: "CSV: the request has more than 10 rows (max_rows)"},
		{name: "csv elements", plan: v1, format: FormatCSV, body: csvRows(3), lim: Limits{MaxRows: 10, MaxElements: 11},
			limit: "max_elements", msg: "CSV: the request holds more than 11 values (max_elements)"},
		{name: "csv at the limits", plan: v1, format: FormatCSV, body: csvRows(3), lim: Limits{MaxRows: 3, MaxElements: 12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(what string, err error) {
				t.Helper()
				var e *Error
				switch {
				case tt.limit == "" && err != nil:
					t.Fatalf("%s: %v", what, err)
				case tt.limit == "":
				case !errors.As(err, &e):
					t.Fatalf("%s error %v; want an *Error", what, err)
				case e.Limit != tt.limit || e.Code != CodeBadRequest || !strings.Contains(e.Message, tt.msg):
					t.Fatalf("%s error %s %q %q; want BAD_REQUEST %q containing %q", what, e.Code, e.Limit, e.Message, tt.limit, tt.msg)
				}
			}
			b := tt.plan.GetBatch()
			defer tt.plan.PutBatch(b)
			check("DecodeLimited", tt.plan.DecodeLimited(context.Background(), tt.format, []byte(tt.body), b, tt.lim))
			if tt.name == "records that share no key" {
				return // Measure counts, the table is built by decoding
			}
			_, err := tt.plan.Measure(tt.format, []byte(tt.body), tt.lim)
			check("Measure", err)
		})
	}
}

func TestMeasure(t *testing.T) {
	v1 := recordedPlan(t, "churn-gbm", 1)
	tests := []struct {
		format Format
		body   string
		want   Cost
	}{
		{FormatJSON, splitRows(3), Cost{Rows: 3, Elements: 12, Values: 3*5 + 1 + 4 + 1 + 2}},
		{FormatJSON, `{"inputs": {"tenure": [1, 2], "monthly_charges": 2, "total_charges": [3, 4, 5], "contract_months": 4}, "params": {"a": [1]}}`,
			Cost{Rows: 3, Elements: 7, Values: 1 + 1 + 2 + 1 + 1 + 3 + 1 + 1 + 2 + 1}},
		{FormatJSON, `{"dataframe_records": [{"tenure": 1}, {"tenure": [[1, 2]]}, {}]}`, Cost{Rows: 3, Elements: 3, Values: 1 + 1 + 3 + 1 + 1 + 1 + 2}},
		{FormatCSV, "\ufefftenure,x\n\n1,\"a,\"\"b\"\r\n2,3", Cost{Rows: 2, Elements: 4, Values: 6}},
	}
	for i, tt := range tests {
		c, err := v1.Measure(tt.format, []byte(tt.body), Limits{})
		got := Cost{Format: c.Format, Bytes: c.Bytes, Rows: c.Rows, Elements: c.Elements, Values: c.Values}
		tt.want.Format, tt.want.Bytes = tt.format, len(tt.body)
		if err != nil || got != tt.want {
			t.Errorf("%d: Measure = %+v, %v; want %+v", i, got, err, tt.want)
		}
	}
	for _, body := range []string{"", " ", `{"inputs": [1,]}`, `[` + strings.Repeat("[", MaxRequestDepth) + "]"} {
		if _, err := v1.Measure(FormatJSON, []byte(body), Limits{}); err == nil {
			t.Errorf("Measure(%.40q) accepted a malformed body", body)
		}
	}
	for _, body := range []string{"", "\n\n", "a,b\n1\n", "a\n\"1\n", "a,b\n"} {
		if _, err := v1.Measure(FormatCSV, []byte(body), Limits{}); err == nil {
			t.Errorf("Measure(CSV %q) accepted a malformed body", body)
		}
	}
	if _, err := v1.Measure(Format(9), nil, Limits{}); err == nil {
		t.Error("Measure accepted an unknown format")
	}
	for _, n := range []int{1, 1000} {
		c, _ := v1.Measure(FormatJSON, []byte(splitRows(n)), Limits{})
		if c.Memory() < int64(c.Bytes)*3 {
			t.Errorf("Memory() = %d for %d rows in %d bytes; want at least three times the body", c.Memory(), n, c.Bytes)
		}
	}
}

// TestDecodeMeasured decodes measured bodies without measuring them again,
// as DecodeLimited would, and measures again a body or a plan the Cost was
// not made for.
func TestDecodeMeasured(t *testing.T) {
	v1, v2 := recordedPlan(t, "churn-gbm", 1), recordedPlan(t, "churn-gbm", 2)
	lim := Limits{MaxRows: 10, MissingValues: MissingNaN}
	for _, tt := range []struct {
		format Format
		body   string
	}{{FormatJSON, splitRows(10)}, {FormatJSON, `{"inputs": {"tenure": [1], "monthly_charges": [Infinity], "total_charges": 3, "contract_months": 4}}`}, {FormatCSV, csvRows(10)}} {
		body := []byte(tt.body)
		c, err := v1.Measure(tt.format, body, lim)
		if err != nil {
			t.Fatal(err)
		}
		want, got := v1.GetBatch(), v1.GetBatch()
		if err := v1.DecodeLimited(context.Background(), tt.format, body, want, lim); err != nil {
			t.Fatal(err)
		}
		if err := v1.DecodeMeasured(context.Background(), body, c, got); err != nil {
			t.Fatal(err)
		}
		if got.Rows != want.Rows || !sameData(got.Feeds[0].F32, want.Feeds[0].F32) {
			t.Errorf("DecodeMeasured: %d rows %v; want %d rows %v", got.Rows, got.Feeds[0].F32, want.Rows, want.Feeds[0].F32)
		}
		v1.PutBatch(want)
		v1.PutBatch(got)
	}
	c, err := v1.Measure(FormatJSON, []byte(splitRows(10)), lim)
	if err != nil {
		t.Fatal(err)
	}
	b := v1.GetBatch()
	defer v1.PutBatch(b)
	err = v1.DecodeMeasured(context.Background(), []byte(splitRows(11)), c, b)
	if e, ok := err.(*Error); !ok || e.Limit != "max_rows" {
		t.Errorf("DecodeMeasured of another body: %v; want it measured again and refused for max_rows", err)
	}
	// A Cost is trusted only by the plan that made it, for its body: one
	// that claims no values fails a tensor's check when trusted.
	body := []byte(`{"inputs": [[1, 2, 3, 4]]}`)
	b2 := v2.GetBatch()
	defer v2.PutBatch(b2)
	for _, tt := range []struct {
		by   *Plan
		want bool
	}{{v1, true}, {v2, false}} {
		c, err := tt.by.Measure(FormatJSON, body, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		c.Elements = 0
		if err := v2.DecodeMeasured(context.Background(), body, c, b2); (err == nil) != tt.want {
			t.Errorf("DecodeMeasured with a forged Cost from %s: %v; want success %v", map[bool]string{true: "another plan", false: "its plan"}[tt.want], err, tt.want)
		}
	}
}

// TestMeasureZeroAlloc checks that measuring a request allocates nothing.
func TestMeasureZeroAlloc(t *testing.T) {
	v1 := recordedPlan(t, "churn-gbm", 1)
	for _, f := range []struct {
		format Format
		body   string
	}{{FormatJSON, splitRows(16)}, {FormatCSV, csvRows(16)}} {
		body := []byte(f.body)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := v1.Measure(f.format, body, Limits{}); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Measure(format %d): %v allocations; want 0", f.format, allocs)
		}
	}
}

// endingCtx is a context whose Err reports DeadlineExceeded from its
// after-th call on, counting the calls.
type endingCtx struct {
	context.Context
	after, calls int
}

func (c *endingCtx) Err() error {
	c.calls++
	if c.calls >= c.after {
		return context.DeadlineExceeded
	}
	return nil
}

// TestDecodeDeadline cuts a long decode off when its context ends: the
// context is looked at before decoding and then every few thousand values,
// in the JSON scan, the CSV scan and the conversion.
func TestDecodeDeadline(t *testing.T) {
	v1 := recordedPlan(t, "churn-gbm", 1)
	json, csv := []byte(splitRows(100_000)), []byte(csvRows(100_000))
	for _, tt := range []struct {
		name   string
		format Format
		body   []byte
		after  int
	}{
		{"before decoding", FormatJSON, json, 1},
		{"while scanning JSON", FormatJSON, json, 2},
		{"while converting JSON", FormatJSON, json, 5},
		{"while scanning CSV", FormatCSV, csv, 2},
		{"while converting CSV", FormatCSV, csv, 50},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := &endingCtx{Context: context.Background(), after: tt.after}
			b := v1.GetBatch()
			defer v1.PutBatch(b)
			err := v1.DecodeLimited(ctx, tt.format, tt.body, b, Limits{})
			if !errors.Is(err, context.DeadlineExceeded) || ctx.calls != tt.after {
				t.Fatalf("DecodeLimited = %v after %d looks at the context; want DeadlineExceeded after %d", err, ctx.calls, tt.after)
			}
		})
	}
	ctx := &endingCtx{Context: context.Background(), after: 1 << 30}
	b := v1.GetBatch()
	if err := v1.DecodeLimited(ctx, FormatJSON, json, b, Limits{}); err != nil || b.Rows != 100_000 {
		t.Fatalf("DecodeLimited = %v, %d rows", err, b.Rows)
	}
	if ctx.calls < 100_000*5/pollValues+100_000*4/pollCells {
		t.Errorf("the context was looked at %d times while decoding 100000 rows; want at least every %d values", ctx.calls, pollCells)
	}
}

// TestDecodeRaggedAllocatesNothingBig decodes a tensor whose first row
// claims far more values than the body holds: the shape inferred from it
// would need 10^10 values, and the decoder refuses it as ragged before
// allocating them.
func TestDecodeRaggedAllocatesNothingBig(t *testing.T) {
	p := mustPlan(t, nil, []GraphTensor{gt("x", Float32, -1, -1)})
	const n = 100_000
	body := []byte(`{"inputs": [[` + repeat("1", n) + `], ` + repeat("[1]", n-1) + `]}`)
	b := p.GetBatch()
	defer p.PutBatch(b)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, e := decodeErr(t, p, FormatJSON, string(body))
	runtime.ReadMemStats(&after)
	if e == nil || !strings.Contains(e.Message, `input "x" is a ragged nested list: expected a list of 100000 items at depth 1, got a list of 1 item`) {
		t.Fatalf("error %v; want the ragged item named", e)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("decoding allocated %d bytes; want less than 64 MiB", got)
	}
}

// TestDecodeManyRequestColumns sends far more columns than the model
// takes, none of them the ones it needs: the error lists a few, counts the
// rest, and takes time linear in their number.
func TestDecodeManyRequestColumns(t *testing.T) {
	v1 := recordedPlan(t, "churn-gbm", 1)
	const n = 200_000
	var header, row strings.Builder
	for i := range n {
		if i > 0 {
			header.WriteByte(',')
			row.WriteByte(',')
		}
		header.WriteString("x" + strconv.Itoa(i%(n/2))) // every name twice
		row.WriteByte('1')
	}
	_, e := decodeErr(t, v1, FormatCSV, header.String()+"\n"+row.String()+"\n")
	if e == nil || !strings.Contains(e.Message, `it has "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", and 99992 more, which the model does not take`) {
		t.Fatalf("error %v", e)
	}
}

// TestCheckObjectManyProperties validates an object column of MaxColumns
// properties against objects with as many keys.
func TestCheckObjectManyProperties(t *testing.T) {
	var props, obj strings.Builder
	for i := range MaxColumns {
		if i > 0 {
			props.WriteString(", ")
			obj.WriteString(", ")
		}
		props.WriteString(`"p` + strconv.Itoa(i) + `": {"type": "long"}`)
		obj.WriteString(`"p` + strconv.Itoa(i) + `": ` + strconv.Itoa(i))
	}
	sig := mustSig(t, `[{"type": "object", "name": "o", "properties": {`+props.String()+`}}, {"type": "double", "name": "x"}, {"type": "double", "name": "y"}]`, "", "")
	p := mustPlan(t, sig, []GraphTensor{gt("x", Float32, -1), gt("y", Float32, -1)})
	b := mustDecode(t, p, FormatJSON, `{"dataframe_records": [{"o": {`+obj.String()+`}, "x": 1, "y": 2}]}`)
	p.PutBatch(b)
	missing := strings.Replace(obj.String(), `"p5000": 5000, `, "", 1)
	_, e := decodeErr(t, p, FormatJSON, `{"dataframe_records": [{"o": {`+missing+`}, "x": 1, "y": 2}]}`)
	if e == nil || !strings.Contains(e.Message, `missing required property "p5000"`) {
		t.Fatalf("error %v; want p5000 named missing", e)
	}
	_, e = decodeErr(t, p, FormatJSON, `{"dataframe_records": [{"o": {`+obj.String()+`, "q": 1}, "x": 1, "y": 2}]}`)
	if e == nil || !strings.Contains(e.Message, `unknown property "q"`) {
		t.Fatalf("error %v; want q named unknown", e)
	}
}

// TestReserveValues checks that the parser's value cache is found in the
// pinned fastjson and that sizing it first makes a parse allocate its
// values once, instead of about five times over.
func TestReserveValues(t *testing.T) {
	if valueCacheOffset == ^uintptr(0) {
		t.Fatal("fastjson.Parser has no value cache field c.vs of type []fastjson.Value; update reserveValues for this fastjson version")
	}
	const n = 200_000
	body := []byte("[" + repeat("1", n-1) + "]")
	parse := func(reserve bool) uint64 {
		var p fastjson.Parser
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if reserve {
			reserveValues(&p, n)
		}
		if _, err := p.ParseBytes(body); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if reserve && valueCacheCap(&p) != n {
			t.Errorf("value cache holds %d values; want %d", valueCacheCap(&p), n)
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	cold, sized := parse(false), parse(true)
	if limit := uint64(n) * 80 * 2; sized > limit || cold < 3*sized {
		t.Errorf("parsing %d values allocated %d bytes cold and %d sized; want the sized parse under %d and at most a third of the cold one", n, cold, sized, limit)
	}
}

// TestPoolCapValues drops a batch whose parser grew past the pool's cap on
// a request of few rows but many values.
func TestPoolCapValues(t *testing.T) {
	p := mustPlan(t, nil, []GraphTensor{gt("x", Float32, -1, -1)})
	b := mustDecode(t, p, FormatJSON, `{"inputs": [[`+repeat("1", 20_000)+`]]}`)
	if b.retained() <= maxPooledBytes {
		t.Errorf("a batch that parsed 20000 values retains %d bytes; want more than the pool's cap %d", b.retained(), maxPooledBytes)
	}
	p.PutBatch(b)
}

func TestParseMissingValues(t *testing.T) {
	for in, want := range map[string]MissingValues{"": MissingRefuse, "refuse": MissingRefuse, "nan": MissingNaN} {
		if got, err := ParseMissingValues(in); err != nil || got != want || (in != "" && got.String() != in) {
			t.Errorf("ParseMissingValues(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseMissingValues("null"); err == nil || !strings.Contains(err.Error(), "want refuse or nan") {
		t.Errorf("ParseMissingValues(null): %v; want an error naming the choices", err)
	}
}
