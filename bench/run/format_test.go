package main

import (
	"math"
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"micros small", fmtMicros(87), "87 µs"},
		{"micros ms", fmtMicros(1234), "1.23 ms"},
		{"micros tens of ms", fmtMicros(12345), "12.3 ms"},
		{"micros hundreds of ms", fmtMicros(116_149), "116 ms"},
		{"micros seconds", fmtMicros(1_500_000), "1.50 s"},
		{"rate", fmtRate(31245.4), "31,245"},
		{"rate millions", fmtRate(1234567), "1,234,567"},
		{"rate small", fmtRate(999.6), "1,000"},
		{"rate unknown", fmtRate(math.NaN()), "n/a"},
		{"ratio", fmtRatio(3.1), "3.10×"},
		{"ratio unknown", fmtRatio(math.NaN()), "n/a"},
		{"percent", fmtPercent(0.75), "75%"},
		{"share", fmtShare(4890, 21432), "23%"},
		{"share small", fmtShare(4, 1000), "0.4%"},
		{"share tiny", fmtShare(3, 28000), "<0.1%"},
		{"share none", fmtShare(0, 1000), "0%"},
		{"share of nothing", fmtShare(3, 0), "0%"},
		{"cpu", fmtCPU(37.04), "37.0 µs"},
		{"cpu large", fmtCPU(1234), "1.23 ms"},
		{"cpu unknown", fmtCPU(0), "n/a"},
		{"memory", fmtKiB(46080), "45.0 MiB"},
		{"plural one", plural(1, "row"), "1 row"},
		{"plural many", plural(16, "row"), "16 rows"},
		{"count k", fmtCount(12000), "12k"},
		{"count fraction", fmtCount(1500), "1.5k"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q; want %q", tt.name, tt.got, tt.want)
		}
	}
}
