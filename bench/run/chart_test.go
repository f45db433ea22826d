package main

import (
	"encoding/xml"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestLatencyChart(t *testing.T) {
	s := cannedSuite()
	series := latencySeries(s)
	if len(series) != 4 {
		t.Fatalf("series: got %d; want 4 (p50 and p99 of mlgate and naive)", len(series))
	}
	for _, sr := range series {
		if len(sr.points) != len(s.Plan.LoadFractions) {
			t.Errorf("series %s: got %d points; want %d", sr.name, len(sr.points), len(s.Plan.LoadFractions))
		}
	}
	svg := latencyChartSVG("Latency & load", series)
	golden(t, "latency-vs-load.golden.svg", svg)

	dec := xml.NewDecoder(strings.NewReader(svg))
	polylines, texts := 0, []string{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if el.Name.Local == "polyline" {
				polylines++
			}
		case xml.CharData:
			texts = append(texts, string(el))
		}
	}
	if polylines != 4 {
		t.Errorf("polylines: got %d; want 4", polylines)
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"Latency & load", "mlgate p50", "naive p99", "offered load (requests/s)"} {
		if !strings.Contains(all, want) {
			t.Errorf("chart text lacks %q", want)
		}
	}
}

func TestLatencyChartEmpty(t *testing.T) {
	if got := latencyChartSVG("t", nil); got != "" {
		t.Errorf("chart without data: got %d bytes; want none", len(got))
	}
	if got := latencyChartSVG("t", []chartSeries{{name: "x", points: []chartPoint{{0, 0}}}}); got != "" {
		t.Errorf("chart of zeros: got %d bytes; want none", len(got))
	}
}

func TestTicks(t *testing.T) {
	lin := linearTicks(27300, 6)
	if lin[0] != 0 || lin[len(lin)-1] < 27300 || len(lin) > 8 {
		t.Errorf("linearTicks(27300, 6): got %v; want 0 to at least 27300 in at most 8 steps", lin)
	}
	if got, want := logTicks(100, 10000), []float64{100, 200, 500, 1000, 2000, 5000, 10000}; !slices.Equal(got, want) {
		t.Errorf("logTicks(100, 10000): got %v; want %v", got, want)
	}
}
