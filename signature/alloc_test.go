package signature

import (
	"testing"
)

// TestDecodeZeroAlloc proves that decoding a JSON request allocates nothing
// once the batch has served a request of that size, for one-row and 16-row
// requests in every format each recorded model takes. CSV is checked too,
// although only JSON is promised (a binary CSV column allocates).
func TestDecodeZeroAlloc(t *testing.T) {
	want := loadBatch16(t)
	formats := map[string][]string{
		"churn-gbm/v1": {"dataframe_split", "dataframe_records", "instances-records", "inputs-records", "inputs-columns", "csv"},
		"churn-gbm/v2": {"dataframe_split", "dataframe_records", "instances-rows", "inputs-rows", "csv"},
		"churn-gbm/v3": {"dataframe_split", "dataframe_records", "instances-records", "inputs-records", "inputs-columns", "csv"},
	}
	plans := map[string]*Plan{
		"churn-gbm/v1": recordedPlan(t, "churn-gbm", 1),
		"churn-gbm/v2": recordedPlan(t, "churn-gbm", 2),
		"churn-gbm/v3": recordedPlan(t, "churn-gbm", 3),
	}
	for _, n := range []int{1, 16} {
		reqs := requestsFor(t, want, n)
		for model, names := range formats {
			p := plans[model]
			for _, name := range names {
				r := reqs[name]
				body := []byte(r.body)
				b := p.GetBatch()
				if err := p.Decode(r.format, body, b); err != nil {
					t.Fatalf("%s %s: %v", model, name, err)
				}
				var err error
				allocs := testing.AllocsPerRun(100, func() {
					err = p.Decode(r.format, body, b)
				})
				if err != nil {
					t.Fatalf("%s %s: %v", model, name, err)
				}
				if b.Rows != n {
					t.Errorf("%s %s: Rows = %d; want %d", model, name, b.Rows, n)
				}
				if allocs != 0 {
					t.Errorf("%s %s, %d rows: %v allocations per Decode; want 0", model, name, n, allocs)
				}
				p.PutBatch(b)
			}
		}
	}
}

// TestDecodeSplitZeroAlloc is the headline case: a one-row dataframe_split
// on churn-gbm v1's column signature.
func TestDecodeSplitZeroAlloc(t *testing.T) {
	p := recordedPlan(t, "churn-gbm", 1)
	body := []byte(`{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`)
	b := p.GetBatch()
	defer p.PutBatch(b)
	if err := p.Decode(FormatJSON, body, b); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := p.Decode(FormatJSON, body, b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Decode; want 0", allocs)
	}
}

// TestDecodeParamsZeroAlloc checks that validating scalar and list params
// allocates nothing either.
func TestDecodeParamsZeroAlloc(t *testing.T) {
	p := testPlans(t)["params"]
	body := []byte(`{"inputs": {"x": [1, 2]}, "params": {"threshold": 0.3, "k": 2, "ids": [1, -2], "on": true, "day": "2024-01-01", "other": {"x": 1}}}`)
	b := p.GetBatch()
	defer p.PutBatch(b)
	if err := p.Decode(FormatJSON, body, b); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := p.Decode(FormatJSON, body, b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Decode; want 0", allocs)
	}
}
