package main

import (
	"encoding/json"
	"testing"

	"github.com/mlgate/mlgate/bench/fixture"
	"github.com/mlgate/mlgate/internal/testutil"
)

func TestDataframePayload(t *testing.T) {
	rows, err := loadRows(testutil.Path(t, batchInputsPath))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 16 {
		t.Fatalf("recorded rows: got %d; want 16", len(rows))
	}
	tests := []struct {
		rows, wantBodies int
	}{{1, 16}, {16, 1}, {256, 1}}
	for _, tt := range tests {
		p := dataframePayload(rows, tt.rows)
		if p.ContentType != "application/json" {
			t.Errorf("rows=%d: content type: got %q; want application/json", tt.rows, p.ContentType)
		}
		if len(p.Bodies) != tt.wantBodies {
			t.Fatalf("rows=%d: bodies: got %d; want %d", tt.rows, len(p.Bodies), tt.wantBodies)
		}
		for i, b := range p.Bodies {
			var req struct {
				DataframeSplit struct {
					Columns []string        `json:"columns"`
					Data    [][]json.Number `json:"data"`
				} `json:"dataframe_split"`
			}
			if err := json.Unmarshal(b, &req); err != nil {
				t.Fatalf("rows=%d body %d: %v: %s", tt.rows, i, err, b)
			}
			df := req.DataframeSplit
			if len(df.Columns) != 4 || df.Columns[0] != fixture.Columns[0] || df.Columns[3] != fixture.Columns[3] {
				t.Errorf("rows=%d body %d: columns %v; want %v", tt.rows, i, df.Columns, fixture.Columns)
			}
			if len(df.Data) != tt.rows {
				t.Errorf("rows=%d body %d: got %d rows", tt.rows, i, len(df.Data))
			}
			for j, r := range df.Data {
				src := rows[(i*tt.rows+j)%len(rows)]
				for k := range r {
					if r[k] != src[k] {
						t.Errorf("rows=%d body %d row %d: got %v; want %v", tt.rows, i, j, r, src)
						break
					}
				}
			}
		}
	}
	if got := string(dataframePayload(rows, 1).Bodies[0]); got != fixture.FirstRowRequest {
		t.Errorf("first one-row body:\ngot  %s\nwant %s", got, fixture.FirstRowRequest)
	}
}

func TestLoadRowsErrors(t *testing.T) {
	if _, err := loadRows("testdata/does-not-exist.json"); err == nil {
		t.Error("missing file: got no error")
	}
	if _, err := loadRows("testdata/rows-wrong-columns.json"); err == nil {
		t.Error("wrong columns: got no error")
	}
}
