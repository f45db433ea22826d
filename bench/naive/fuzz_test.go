package main

import (
	"encoding/json"
	"testing"

	"github.com/mlgate/mlgate/bench/fixture"
)

// FuzzRequestRows feeds arbitrary bodies through the request decoding: it
// must never panic, and rows it accepts hold whole rows of the model's
// four columns.
func FuzzRequestRows(f *testing.F) {
	f.Add([]byte(fixture.FirstRowRequest))
	f.Add([]byte(`{"dataframe_split": {"data": [[1, 2, 3, 4], [5, 6, 7, 8]]}}`))
	f.Add([]byte(`{"dataframe_split": {"columns": ["contract_months", "tenure", "total_charges", "monthly_charges", "extra"], "data": [[1, 2, 3, 4, 5]]}}`))
	f.Add([]byte(`{"dataframe_split": {"columns": ["tenure"], "data": [[1]]}}`))
	f.Add([]byte(`{"dataframe_split": null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req scoringRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return
		}
		rows, err := req.rows()
		if err != nil {
			return
		}
		if len(rows) == 0 || len(rows)%len(fixture.Columns) != 0 {
			t.Fatalf("accepted %d values; want a positive multiple of %d", len(rows), len(fixture.Columns))
		}
		if got, want := len(rows)/len(fixture.Columns), len(req.DataframeSplit.Data); got != want {
			t.Fatalf("got %d rows; want %d", got, want)
		}
	})
}
