package serve

import (
	"math"
	"testing"
	"time"
)

// TestShadowComparesBothForms compares answers written with null for
// non-finite numbers and with Python's literals: a NaN agrees with a NaN
// (null with null), and disagrees with a number or an infinity.
func TestShadowComparesBothForms(t *testing.T) {
	tests := []struct {
		name             string
		primary, shadow  string
		values, disagree int64
		numeric          bool
	}{
		{"null form", `{"predictions": [{"p": null, "l": 1}, {"p": 0.5, "l": 0}, {"p": null, "l": 1}]}`,
			`{"predictions": [{"p": null, "l": 1}, {"p": 0.25, "l": 1}, {"p": 1.0, "l": 1}]}`, 6, 2, true},
		{"python form", `{"predictions": {"p": [NaN, Infinity, -Infinity, 0.5]}}`,
			`{"predictions": {"p": [NaN, Infinity, Infinity, 0.75]}}`, 4, 1, true},
		{"strings that look non-finite", `{"predictions": [{"s": "NaN"}, {"s": "Infinity"}]}`,
			`{"predictions": [{"s": "NaN"}, {"s": "-Infinity"}]}`, 2, 1, false},
		{"labels by text", `{"predictions": [{"l": 1}, {"l": "1"}, {"l": true}]}`,
			`{"predictions": [{"l": 1}, {"l": 1}, {"l": true}]}`, 3, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newShadowStats()
			st.record([]byte(tt.primary), []byte(tt.shadow), time.Millisecond, time.Millisecond)
			s := st.status()
			if s.Errors != 0 || s.Compared != 1 {
				t.Fatalf("errors %d (%s), compared %d; want the bodies compared", s.Errors, s.LastError, s.Compared)
			}
			var values, disagree int64
			numeric := false
			for _, o := range s.Outputs {
				values += o.Values
				disagree += o.Disagreements
				numeric = numeric || o.Numeric
			}
			if values != tt.values || disagree != tt.disagree || numeric != tt.numeric {
				t.Errorf("values %d, disagreements %d, numeric %v; want %d, %d, %v (%+v)", values, disagree, numeric, tt.values, tt.disagree, tt.numeric, s.Outputs)
			}
		})
	}
	st := newShadowStats()
	st.record([]byte(`{"predictions": {"p": [0.5, 1.5]}}`), []byte(`{"predictions": {"p": [0.75, 1.5]}}`), 0, 0)
	if d := st.status().Outputs["p"].MaxAbsDiff; math.Abs(d-0.25) > 1e-12 {
		t.Errorf("max abs diff %v; want 0.25", d)
	}
}
