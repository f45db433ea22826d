package signature

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// shellWords splits a recorded curl command line into words, honouring
// single quotes, double quotes and backslashes as the recording shell did.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				t.Fatalf("unterminated single quote in %.60q", line)
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := strings.IndexByte(line[i+1:], '"')
			if j < 0 {
				t.Fatalf("unterminated double quote in %.60q", line)
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '\\' && i+1 < len(line):
			cur.WriteByte(line[i+1])
			i++
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// recordedRequest returns the Content-Type and body of a recorded curl
// command.
func recordedRequest(t *testing.T, path string) (ctype string, body []byte) {
	t.Helper()
	words := shellWords(t, string(readFile(t, path)))
	found := false
	for i := 0; i+1 < len(words); i++ {
		switch words[i] {
		case "-H":
			if v, ok := strings.CutPrefix(words[i+1], "Content-Type: "); ok {
				ctype = v
			}
		case "--data", "-d", "--data-binary":
			body, found = []byte(words[i+1]), true
		}
	}
	if ctype == "" || !found {
		t.Fatalf("%s: no Content-Type or --data", path)
	}
	return ctype, body
}

// TestRecordedScoringServer decodes every /invocations request recorded from
// `mlflow models serve` for churn-sk (column-based signature; a synthetic
// float32 (-1, 4) graph input) and checks the outcome against the recorded
// response: successes decode to the recorded rows, errors carry the same
// error_code and a message naming the offending field.
func TestRecordedScoringServer(t *testing.T) {
	dir := filepath.Join(realDir, "scoring-server-churn-sk")
	files, err := filepath.Glob(filepath.Join(dir, "invocations--*.curl.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded invocations in %s (%v)", dir, err)
	}
	// What each error message must name.
	wantInMessage := map[string]string{
		"invocations--bad-json":              "byte 20",
		"invocations--missing-column":        `"contract_months"`,
		"invocations--string-in-long-column": `column "tenure"`,
		"invocations--unknown-format-key":    `"rows"`,
	}
	p := recordedPlan(t, "churn-sk", 1)
	want := loadBatch16(t)
	seen := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".curl.txt")
		// A 415 is decided from the Content-Type before any decoding, which
		// is serve's job; /ping, /health and /version are not invocations.
		if name == "invocations--unsupported-content-type" {
			continue
		}
		seen++
		t.Run(name, func(t *testing.T) {
			ctype, body := recordedRequest(t, f)
			format := FormatJSON
			if ctype == "text/csv" {
				format = FormatCSV
			}
			status := strings.TrimSpace(string(readFile(t, filepath.Join(dir, name+".status"))))
			recorded := readFile(t, filepath.Join(dir, name+".json"))
			b, e := decodeErr(t, p, format, string(body))
			defer p.PutBatch(b)
			if status == "200" {
				if e != nil {
					t.Fatalf("Decode: %s: %s; want success (recorded %s)", e.Code, e.Message, recorded)
				}
				var rec struct {
					Predictions [][]float64 `json:"predictions"`
				}
				if err := json.Unmarshal(recorded, &rec); err != nil {
					t.Fatal(err)
				}
				rows := len(rec.Predictions)
				if b.Rows != rows || !b.Records {
					t.Errorf("Rows, Records = %d, %v; want %d, true", b.Rows, b.Records, rows)
				}
				feed := b.Feeds[0]
				if !shapeEq(feed.Shape, []int64{int64(rows), 4}) || !f32Eq(feed.F32, flatRows(want.Float32Rows[:rows])) {
					t.Errorf("feed %v %v; want (%d, 4) %v", feed.Shape, feed.F32, rows, flatRows(want.Float32Rows[:rows]))
				}
				return
			}
			var rec struct {
				ErrorCode string `json:"error_code"`
			}
			if err := json.Unmarshal(recorded, &rec); err != nil {
				t.Fatal(err)
			}
			if e == nil {
				t.Fatalf("Decode succeeded; want %s (status %s)", rec.ErrorCode, status)
			}
			if e.Code != rec.ErrorCode {
				t.Errorf("error code %s; want %s as recorded (message %q)", e.Code, rec.ErrorCode, e.Message)
			}
			needle, ok := wantInMessage[name]
			if !ok {
				t.Fatalf("no expectation for the message of recorded error %s: %q", name, e.Message)
			}
			if !strings.Contains(e.Message, needle) {
				t.Errorf("message %q does not name %s", e.Message, needle)
			}
		})
	}
	if seen != 9 {
		t.Errorf("decoded %d recorded invocations; want 9", seen)
	}
}

// TestServingInputExamples decodes every model's serving_input_example.json
// with its own signature and checks the float32 feeds against
// batch16-inputs.json rows 0-2.
func TestServingInputExamples(t *testing.T) {
	want := loadBatch16(t)
	for _, m := range []struct {
		name    string
		version int
	}{{"churn-gbm", 1}, {"churn-gbm", 2}, {"churn-gbm", 3}, {"churn-gbm", 4}, {"churn-sk", 1}} {
		t.Run(fmt.Sprintf("%s/v%d", m.name, m.version), func(t *testing.T) {
			p := recordedPlan(t, m.name, m.version)
			body := readFile(t, filepath.Join(modelDir(m.name, m.version), "serving_input_example.json"))
			b := mustDecode(t, p, FormatJSON, string(body))
			defer p.PutBatch(b)
			checkRows(t, p, b, want, 3)
		})
	}
}

// checkRows checks that b holds rows 0..n-1 of batch16 as the plan's graph
// takes them.
func checkRows(t *testing.T, p *Plan, b *Batch, want *batch16, n int) {
	t.Helper()
	if b.Rows != n {
		t.Errorf("Rows = %d; want %d", b.Rows, n)
	}
	if len(b.Feeds) == 1 {
		f := b.Feeds[0]
		if !shapeEq(f.Shape, []int64{int64(n), 4}) || !f32Eq(f.F32, flatRows(want.Float32Rows[:n])) {
			t.Errorf("feed %q = %v %v; want (%d, 4) %v", f.Name, f.Shape, f.F32, n, flatRows(want.Float32Rows[:n]))
		}
		return
	}
	for _, f := range b.Feeds {
		w := want.Float32Columns[f.Name][:n]
		if !shapeEq(f.Shape, []int64{int64(n)}) || !f32Eq(f.F32, w) {
			t.Errorf("feed %q = %v %v; want (%d,) %v", f.Name, f.Shape, f.F32, n, w)
		}
	}
}

// request is a request body and its format.
type request struct {
	format Format
	body   string
}

// batch16Requests builds the 16-row batch in every request format.
func batch16Requests(t testing.TB, want *batch16) map[string]request {
	t.Helper()
	return requestsFor(t, want, 16)
}

// requestsFor builds a request of the first n rows of the 16-row batch in
// every request format.
func requestsFor(t testing.TB, want *batch16, n int) map[string]request {
	t.Helper()
	want = &batch16{Columns: want.Columns, DataframeIndex: want.DataframeIndex[:n], Rows: want.Rows[:n]}
	js := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// Records keep the columns in order (a Go map would sort them), since a
	// DataFrame built from records takes its column order from the keys.
	var records, columns strings.Builder
	records.WriteByte('[')
	for i, row := range want.Rows {
		if i > 0 {
			records.WriteString(", ")
		}
		records.WriteByte('{')
		for j, c := range want.Columns {
			if j > 0 {
				records.WriteString(", ")
			}
			fmt.Fprintf(&records, "%q: %s", c, js(row[j]))
		}
		records.WriteByte('}')
	}
	records.WriteByte(']')
	columns.WriteByte('{')
	for j, c := range want.Columns {
		if j > 0 {
			columns.WriteString(", ")
		}
		var col []float64
		for _, row := range want.Rows {
			col = append(col, row[j])
		}
		fmt.Fprintf(&columns, "%q: %s", c, js(col))
	}
	columns.WriteByte('}')
	var csv bytes.Buffer
	csv.WriteString(strings.Join(want.Columns, ",") + "\n")
	for _, row := range want.Rows {
		for j, v := range row {
			if j > 0 {
				csv.WriteByte(',')
			}
			csv.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
		}
		csv.WriteString("\r\n")
	}
	split := map[string]any{"columns": want.Columns, "data": want.Rows, "index": want.DataframeIndex}
	return map[string]request{
		"dataframe_split":   {FormatJSON, js(map[string]any{"dataframe_split": split})},
		"dataframe_records": {FormatJSON, `{"dataframe_records": ` + records.String() + `}`},
		"instances-records": {FormatJSON, `{"instances": ` + records.String() + `}`},
		"inputs-records":    {FormatJSON, `{"inputs": ` + records.String() + `}`},
		"inputs-columns":    {FormatJSON, `{"inputs": ` + columns.String() + `}`},
		"instances-rows":    {FormatJSON, js(map[string]any{"instances": want.Rows})},
		"inputs-rows":       {FormatJSON, js(map[string]any{"inputs": want.Rows})},
		"csv":               {FormatCSV, csv.String()},
	}
}

// TestBatch16AllFormats decodes the 16-row batch in every format each
// recorded model takes and checks the feeds against the float32 values the
// graphs were fed when the expected outputs were recorded.
func TestBatch16AllFormats(t *testing.T) {
	want := loadBatch16(t)
	reqs := batch16Requests(t, want)
	// Formats each signature accepts; the others must fail with an *Error.
	accepts := map[string][]string{
		"churn-gbm/v1": {"dataframe_split", "dataframe_records", "instances-records", "inputs-records", "inputs-columns", "csv"},
		"churn-gbm/v2": {"dataframe_split", "dataframe_records", "instances-rows", "inputs-rows", "csv"},
		"churn-gbm/v3": {"dataframe_split", "dataframe_records", "instances-records", "inputs-records", "inputs-columns", "csv"},
		"churn-gbm/v4": {"dataframe_split", "dataframe_records", "instances-records", "inputs-records", "inputs-columns", "csv"},
		"churn-sk/v1":  {"dataframe_split", "dataframe_records", "instances-records", "inputs-records", "inputs-columns", "csv"},
	}
	for model, formats := range accepts {
		name, v, _ := strings.Cut(model, "/v")
		version, _ := strconv.Atoi(v)
		p := recordedPlan(t, name, version)
		for format, req := range reqs {
			ok := false
			for _, f := range formats {
				ok = ok || f == format
			}
			t.Run(model+"/"+format, func(t *testing.T) {
				b, e := decodeErr(t, p, req.format, req.body)
				defer p.PutBatch(b)
				switch {
				case ok && e != nil:
					t.Fatalf("Decode: %s: %s", e.Code, e.Message)
				case ok:
					checkRows(t, p, b, want, 16)
				case e == nil:
					t.Fatalf("Decode succeeded with feeds %v; want an error", b.Feeds)
				}
			})
		}
	}
}
