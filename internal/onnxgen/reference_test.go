package onnxgen

import (
	"math"
	"testing"
)

// TestExpMatchesMath checks the portable exp against math.Exp to within a
// few ulps over the range sigmoid and softmax use, and at the edges.
func TestExpMatchesMath(t *testing.T) {
	ulps := func(a, b float64) int64 {
		d := int64(math.Float64bits(a)) - int64(math.Float64bits(b))
		if d < 0 {
			d = -d
		}
		return d
	}
	r := newRNG(99)
	xs := []float64{0, 1, -1, 1e-300, -1e-300, 0.5 * math.Ln2, -0.5 * math.Ln2, 88.7, -103.9, 700, -700}
	for range 100000 {
		xs = append(xs, r.uniform(-60, 60))
	}
	for _, x := range xs {
		if got, want := exp(x), math.Exp(x); ulps(got, want) > 2 {
			t.Errorf("exp(%v) = %v; math.Exp gives %v (%d ulps apart)", x, got, want, ulps(got, want))
		}
	}
	for _, tt := range []struct{ x, want float64 }{
		{math.Inf(1), math.Inf(1)}, {math.Inf(-1), 0}, {800, math.Inf(1)}, {-800, 0},
	} {
		if got := exp(tt.x); got != tt.want {
			t.Errorf("exp(%v) = %v; want %v", tt.x, got, tt.want)
		}
	}
	if got := exp(math.NaN()); !math.IsNaN(got) {
		t.Errorf("exp(NaN) = %v; want NaN", got)
	}
}
