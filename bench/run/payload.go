package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlgate/mlgate/bench/fixture"
	"github.com/mlgate/mlgate/loadtest"
)

// batchInputsPath is the recorded 16-row churn batch (validation rows 0-15
// of the churn scenario; rows 0-2 are the serving input example), relative
// to the repository root.
var batchInputsPath = filepath.Join("testdata", "mlflow-real", "expected", "batch16-inputs.json")

// loadRows reads the recorded batch's rows with their numbers exactly as
// written (integers for the long columns, decimals for the doubles).
func loadRows(path string) ([][]json.Number, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("request rows: %w", err)
	}
	var in struct {
		Columns []string        `json:"columns"`
		Rows    [][]json.Number `json:"rows"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("request rows %s: %w", path, err)
	}
	if strings.Join(in.Columns, ",") != strings.Join(fixture.Columns[:], ",") {
		return nil, fmt.Errorf("request rows %s: columns %v; want %v", path, in.Columns, fixture.Columns)
	}
	if len(in.Rows) == 0 {
		return nil, fmt.Errorf("request rows %s: no rows", path)
	}
	for i, r := range in.Rows {
		if len(r) != len(fixture.Columns) {
			return nil, fmt.Errorf("request rows %s: row %d has %d values; want %d", path, i, len(r), len(fixture.Columns))
		}
	}
	return in.Rows, nil
}

// dataframePayload returns dataframe_split request bodies of n rows each,
// taken from rows in turn (wrapping around), enough bodies that every row
// leads one: len(rows) one-row bodies, one body of 16 or 256 rows for a
// 16-row source.
func dataframePayload(rows [][]json.Number, n int) loadtest.Payload {
	bodies := max(1, len(rows)/n)
	p := loadtest.Payload{ContentType: loadtest.ContentTypeJSON}
	next := 0
	for range bodies {
		var b strings.Builder
		b.WriteString(`{"dataframe_split": {"columns": [`)
		for i, c := range fixture.Columns {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(`"` + c + `"`)
		}
		b.WriteString(`], "data": [`)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('[')
			for j, v := range rows[next%len(rows)] {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(v.String())
			}
			b.WriteByte(']')
			next++
		}
		b.WriteString("]}}")
		p.Bodies = append(p.Bodies, []byte(b.String()))
	}
	return p
}
