package main

import (
	"encoding/json"
	"math"
	"testing"
)

func TestEstimate(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name           string
		xs             []float64
		n              int
		median, lo, hi float64
	}{
		{"none", nil, 0, nan, nan, nan},
		{"only NaNs", []float64{nan}, 0, nan, nan, nan},
		{"one", []float64{3}, 1, 3, nan, nan},
		{"five: too few for 95%", []float64{5, 1, 4, 2, 3}, 5, 3, nan, nan},
		{"six: the full range", []float64{6, 1, 5, 2, 4, 3}, 6, 3.5, 1, 6},
		{"six and a NaN", []float64{6, 1, nan, 5, 2, 4, 3}, 6, 3.5, 1, 6},
		{"eight: still the full range", []float64{1, 2, 3, 4, 5, 6, 7, 8}, 8, 4.5, 1, 8},
		{"nine: second smallest to second largest", []float64{9, 1, 8, 2, 7, 3, 6, 4, 5}, 9, 5, 2, 8},
	}
	same := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
	for _, tt := range tests {
		e := estimate(tt.xs)
		if e.N != tt.n || !same(e.Median, tt.median) || !same(e.Lo, tt.lo) || !same(e.Hi, tt.hi) {
			t.Errorf("%s: got %+v; want n %d, median %v, CI %v–%v", tt.name, e, tt.n, tt.median, tt.lo, tt.hi)
		}
	}
}

// TestMedianCIOrder checks the order statistics against benchstat's
// (golang.org/x/perf/benchmath, AssumeNothing at 95%): it needs six samples
// for an interval, and the interval narrows as samples grow.
func TestMedianCIOrder(t *testing.T) {
	want := map[int]int{1: 0, 2: 0, 5: 0, 6: 1, 8: 1, 9: 2, 10: 2, 11: 2, 12: 3, 20: 6}
	for n, k := range want {
		if got := medianCIOrder(n, 0.95); got != k {
			t.Errorf("medianCIOrder(%d, 0.95): got %d; want %d", n, got, k)
		}
	}
}

func TestFmtRatioEstimate(t *testing.T) {
	tests := []struct {
		e    Estimate
		want string
	}{
		{estimate(nil), "n/a"},
		{estimate([]float64{0.5, 0.6}), "0.55× (2 rounds; too few for a 95% CI)"},
		{estimate([]float64{0.5, 0.6, 0.55, 0.58, 0.57, 0.56}), "0.56× (95% CI 0.50–0.60×, 6 rounds)"},
	}
	for _, tt := range tests {
		if got := fmtRatioEstimate(tt.e); got != tt.want {
			t.Errorf("fmtRatioEstimate(%+v): got %q; want %q", tt.e, got, tt.want)
		}
	}
}

func TestEstimateJSON(t *testing.T) {
	for _, e := range []Estimate{estimate(nil), estimate([]float64{1, 2}), estimate([]float64{1, 2, 3, 4, 5, 6})} {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
		var got Estimate
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		same := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
		if got.N != e.N || !same(got.Median, e.Median) || !same(got.Lo, e.Lo) || !same(got.Hi, e.Hi) {
			t.Errorf("round trip of %+v through %s: got %+v", e, b, got)
		}
	}
}
