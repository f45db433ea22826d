package loadtest

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unicode"
)

// flipSplitReport runs a canary split whose champion alias moves from
// version 1 to version 3 halfway, and returns its report.
func flipSplitReport(t *testing.T) *Report {
	t.Helper()
	var n atomic.Int64
	url := startServer(t, func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		p := provenance{route: "default", model: "churn-gbm", alias: "champion", version: "1"}
		switch {
		case i%10 == 0:
			p.alias, p.version = "challenger", "2"
		case i > 150:
			p.version = "3"
		}
		if i%50 == 0 {
			p.set(w.Header())
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		predictions(w, p)
	})
	split, err := ParseSplit("champion=90,challenger=10")
	if err != nil {
		t.Fatal(err)
	}
	return mustRun(t, Config{URL: url, Connections: 1, Requests: 300, Payload: jsonPayload(smallBody),
		IdleConnTimeout: testIdle, ExpectSplit: split, Headers: []Header{{"X-User-Id", "{{key}}"}}, Keys: 10})
}

func TestReportJSONRoundTrips(t *testing.T) {
	checkLeaks(t)
	rep := flipSplitReport(t)
	if len(rep.Flips) != 1 || rep.Flips[0].From != "1" || rep.Flips[0].To != "3" {
		t.Fatalf("got flips %+v; want champion 1 -> 3", rep.Flips)
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := ReadReport(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rep) {
		t.Errorf("report changed in a JSON round trip:\ngot  %+v\nwant %+v", back, rep)
	}
	var again bytes.Buffer
	if err := back.WriteJSON(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Error("re-encoding the decoded report gives different JSON")
	}
	for _, key := range []string{`"p99_us"`, `"series"`, `"flips"`, `"by_version"`, `"chi_square"`, `"max_inflight"`} {
		if !bytes.Contains(buf.Bytes(), []byte(key)) {
			t.Errorf("JSON report has no %s", key)
		}
	}
	if _, err := ReadReport(strings.NewReader(`{"bogus": 1}`)); err == nil {
		t.Error("ReadReport accepted an unknown field; want an error")
	}
}

// Go benchmark format (golang.org/design/14313-benchmark-format):
// configuration lines "key: value" with a key free of spaces and upper-case
// letters, unit metadata lines, and result lines "BenchmarkName iterations
// value unit [value unit...]", with the name starting "Benchmark" and an
// upper-case letter.
var (
	benchConfigLine = regexp.MustCompile(`^[\p{Ll}][^\s\p{Lu}:]*:(\s.*)?$`)
	benchUnitLine   = regexp.MustCompile(`^Unit\s+\S+(\s+[^\s=]+=\S+)+$`)
	benchResultLine = regexp.MustCompile(`^Benchmark\p{Lu}\S*\s+\d+(\s+\S+\s+\S+)+$`)
)

func TestBenchstatFormat(t *testing.T) {
	checkLeaks(t)
	rep := flipSplitReport(t)
	var buf bytes.Buffer
	if err := rep.WriteBenchstat(&buf, "Churn canary"); err != nil {
		t.Fatal(err)
	}
	results := map[string][]string{}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case benchResultLine.MatchString(line):
			f := strings.Fields(line)
			if len(f)%2 != 0 || len(f) < 4 {
				t.Errorf("result line has %d fields; want an even number >= 4: %q", len(f), line)
			}
			for i := 2; i < len(f); i += 2 {
				if _, err := strconv.ParseFloat(f[i], 64); err != nil {
					t.Errorf("value %q of unit %q does not parse: %q", f[i], f[i+1], line)
				}
			}
			results[f[0]] = f[2:]
		case benchUnitLine.MatchString(line), benchConfigLine.MatchString(line):
		default:
			t.Errorf("line is neither configuration, unit metadata nor a result: %q", line)
		}
	}
	all, ok := results["BenchmarkLoad/Churn_canary"]
	if !ok {
		t.Fatalf("no BenchmarkLoad/Churn_canary line in:\n%s", buf.String())
	}
	units := map[string]string{}
	for i := 0; i < len(all); i += 2 {
		units[all[i+1]] = all[i]
	}
	for _, u := range []string{"ns/op", "req/s", "ok-req/s", "p50-ns", "p90-ns", "p99-ns", "p99.9-ns", "max-ns", "errors/op"} {
		if _, ok := units[u]; !ok {
			t.Errorf("overall line has no %s", u)
		}
	}
	if want := strconv.FormatInt(rep.Latency.P99*1000, 10); units["p99-ns"] != want {
		t.Errorf("p99-ns %s; want %s", units["p99-ns"], want)
	}
	for _, tr := range rep.Targets {
		if _, ok := results["BenchmarkLoad/Churn_canary/target="+benchToken(tr.Label)]; !ok {
			t.Errorf("no result line for target %q", tr.Label)
		}
	}
	if err := rep.WriteBenchstat(io.Discard, " "); err == nil {
		t.Error("WriteBenchstat accepted an empty name; want an error")
	}
}

func TestHTMLIsWellFormedWithOneSVGPerChart(t *testing.T) {
	checkLeaks(t)
	rep := flipSplitReport(t)
	var buf bytes.Buffer
	if err := rep.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	// Three targets (champion v1, champion v3, challenger v2): latency for
	// all, latency per target, throughput.
	charts := rep.charts()
	if len(rep.Targets) != 3 || len(charts) != 5 {
		t.Fatalf("got %d targets and %d charts; want 3 and 5", len(rep.Targets), len(charts))
	}
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	dec.Strict = true
	svgs, paths, depth := 0, 0, 0
	var titles []string
	inSVGTitle := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("HTML is not well-formed: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "svg":
				svgs++
				depth++
			case "path":
				paths++
			case "title":
				inSVGTitle = depth > 0
			}
		case xml.EndElement:
			if el.Name.Local == "svg" {
				depth--
			}
			if el.Name.Local == "title" {
				inSVGTitle = false
			}
		case xml.CharData:
			if inSVGTitle {
				titles = append(titles, string(el))
			}
		}
	}
	if svgs != len(charts) {
		t.Errorf("got %d <svg> elements; want one per chart, %d", svgs, len(charts))
	}
	for i, ch := range charts {
		if i >= len(titles) || titles[i] != ch.title {
			t.Errorf("svg %d: title %q; want %q", i, titles, ch.title)
		}
	}
	if paths < len(charts) {
		t.Errorf("got %d <path> elements; want at least one line per chart", paths)
	}
	page := buf.String()
	for _, want := range []string{"champion 1→3", "Expected split by alias", "Alias flips", "challenger v2"} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML does not mention %q", want)
		}
	}
	for _, ref := range []string{"<script", " src=", "<link", "url(", "href="} {
		if strings.Contains(page, ref) {
			t.Errorf("HTML contains %q; want a self-contained page", ref)
		}
	}
}

func TestTextReport(t *testing.T) {
	checkLeaks(t)
	rep := flipSplitReport(t)
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, line := range strings.Split(text, "\n") {
		if line == "" {
			continue
		}
		if r := []rune(line)[0]; !unicode.IsUpper(r) && r != ' ' {
			t.Errorf("line starts with %q; want an upper-case letter or a space: %q", r, line)
		}
		if benchConfigLine.MatchString(line) || strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "Unit ") {
			t.Errorf("text line would be read as benchmark data: %q", line)
		}
	}
	for _, want := range []string{
		"Load test: closed loop, 1 connection\n",
		"champion v1", "challenger v2", "champion v3",
		"Expected split by alias at 99.9% confidence: PASS",
		"churn-gbm@champion  1 -> 3",
		"429 x6",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text report does not contain %q:\n%s", want, text)
		}
	}
}

func TestWritersHandleAnEmptyReport(t *testing.T) {
	rep := &Report{Config: RunConfig{Mode: "open", Rate: 10, Endpoint: "http://127.0.0.1:8080/invocations"}}
	var text, page, bench, js bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteBenchstat(&bench, "Empty"); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&page)
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("HTML of an empty report is not well-formed: %v", err)
		}
	}
	if !strings.Contains(text.String(), "Alias flips: not followed") {
		t.Errorf("text report %q; want a note that no alias was seen", text.String())
	}
	if !strings.Contains(bench.String(), "BenchmarkLoad/Empty 0 0 req/s") {
		t.Errorf("benchstat output %q; want a result line without ns/op", bench.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(bench.String()), "\n") {
		if !benchResultLine.MatchString(line) && !benchUnitLine.MatchString(line) && !benchConfigLine.MatchString(line) {
			t.Errorf("malformed benchstat line %q", line)
		}
	}
}
