package loadtest

import (
	"math"
	"testing"
)

func TestLatencyHistUniform(t *testing.T) {
	h := newLatencyHist()
	for v := int64(1); v <= 10000; v++ {
		h.record(v)
	}
	s := h.summary()
	// 3 significant digits: a percentile is within 0.1% of the true value
	// (plus one unit of the bucket holding it).
	within := func(name string, got, want int64) {
		t.Helper()
		if tol := float64(want)/1000 + 1; math.Abs(float64(got-want)) > tol {
			t.Errorf("%s = %dµs; want %dµs ± %.0f", name, got, want, tol)
		}
	}
	within("p50", s.P50, 5000)
	within("p90", s.P90, 9000)
	within("p99", s.P99, 9900)
	within("p99.9", s.P999, 9990)
	if s.Max != 10000 || s.Min != 1 || s.Count != 10000 || s.Mean != 5000.5 {
		t.Errorf("got max %d, min %d, count %d, mean %v; want 10000, 1, 10000, 5000.5 exactly", s.Max, s.Min, s.Count, s.Mean)
	}
	if p := h.percentiles(); p.P50 != s.P50 || p.P99 != s.P99 || p.Max != s.Max {
		t.Errorf("percentiles %+v disagree with summary %+v", p, s)
	}
}

func TestLatencyHistBounds(t *testing.T) {
	h := newLatencyHist()
	h.record(0)               // below 1 µs counts as 1 µs
	h.record(2 * histHighest) // beyond 60 s: clamped in the histogram, exact max kept
	s := h.summary()
	if s.Min != 1 || s.Max != 2*histHighest || s.Count != 2 {
		t.Errorf("got %+v; want min 1, max %d, count 2", s, 2*histHighest)
	}
	if s.P999 > s.Max || s.P50 < 1 {
		t.Errorf("percentiles out of range: %+v", s)
	}
	h.reset()
	if got := h.summary(); got != (Latency{}) {
		t.Errorf("after reset got %+v; want zero", got)
	}
	if micros(999) != 1 || micros(1500) != 1 || micros(2_000_000) != 2000 {
		t.Errorf("micros conversions wrong: %d %d %d", micros(999), micros(1500), micros(2_000_000))
	}
}
