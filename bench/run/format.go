package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// fmtMicros writes a latency in microseconds with three significant
// digits: "87 µs", "1.23 ms", "12.3 ms", "123 ms", "1.50 s".
func fmtMicros(us int64) string {
	switch v := float64(us); {
	case us < 1000:
		return strconv.FormatInt(us, 10) + " µs"
	case us < 10_000:
		return fmt.Sprintf("%.2f ms", v/1e3)
	case us < 100_000:
		return fmt.Sprintf("%.1f ms", v/1e3)
	case us < 1_000_000:
		return fmt.Sprintf("%.0f ms", v/1e3)
	default:
		return fmt.Sprintf("%.2f s", v/1e6)
	}
}

// fmtRate writes a rate per second with thousands separators: "31,245".
func fmtRate(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && c != '-' && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtRatio writes a ratio as "3.10×", or "n/a" when it is unknown.
func fmtRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", v)
}

// fmtPercent writes a fraction as a whole percentage: "75%".
func fmtPercent(f float64) string {
	return fmt.Sprintf("%.0f%%", f*100)
}

// fmtShare writes n of total as a percentage: "23%", "0.4%", "<0.1%",
// "0%".
func fmtShare(n, total int64) string {
	if total <= 0 || n <= 0 {
		return "0%"
	}
	v := 100 * float64(n) / float64(total)
	if v < 0.1 {
		return "<0.1%"
	}
	if v < 1 {
		return fmt.Sprintf("%.1f%%", v)
	}
	return fmt.Sprintf("%.0f%%", v)
}

// fmtCPU writes a CPU time per request in microseconds, "n/a" when
// unknown.
func fmtCPU(us float64) string {
	if !(us > 0) {
		return "n/a"
	}
	if us < 100 {
		return fmt.Sprintf("%.1f µs", us)
	}
	return fmtMicros(int64(math.Round(us)))
}

// fmtKiB writes a memory size given in KiB as MiB.
func fmtKiB(kib int64) string {
	if kib <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

// plural writes "1 row", "16 rows".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
