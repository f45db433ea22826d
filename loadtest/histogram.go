package loadtest

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: latencies are recorded in microseconds from 1 µs to 60 s
// with 3 significant digits. Longer latencies are recorded as 60 s; the
// exact maximum is kept beside the histogram.
const (
	histLowest  = 1
	histHighest = 60_000_000
	histDigits  = 3
)

// latencyHist is an HDR histogram of microsecond latencies that also keeps
// the exact minimum and maximum. It is not safe for concurrent use.
type latencyHist struct {
	h        *hdrhistogram.Histogram
	min, max int64
	sum      int64
}

func newLatencyHist() *latencyHist {
	return &latencyHist{h: hdrhistogram.New(histLowest, histHighest, histDigits)}
}

// micros converts d to whole microseconds for recording; anything under
// 1 µs counts as 1 µs.
func micros(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	if us < histLowest {
		return histLowest
	}
	return us
}

// record adds one latency in microseconds.
func (l *latencyHist) record(us int64) {
	if us < histLowest {
		us = histLowest
	}
	if l.h.TotalCount() == 0 || us < l.min {
		l.min = us
	}
	if us > l.max {
		l.max = us
	}
	l.sum += us
	v := us
	if v > histHighest {
		v = histHighest
	}
	_ = l.h.RecordValue(v) // v is within the histogram's range
}

func (l *latencyHist) reset() {
	l.h.Reset()
	l.min, l.max, l.sum = 0, 0, 0
}

// summary returns the histogram's percentiles. Percentiles carry HDR
// precision (3 significant digits); Min, Max and Mean are exact.
func (l *latencyHist) summary() Latency {
	n := l.h.TotalCount()
	if n == 0 {
		return Latency{}
	}
	return Latency{
		Count: n,
		Min:   l.min,
		Mean:  float64(l.sum) / float64(n),
		P50:   l.quantile(50),
		P90:   l.quantile(90),
		P99:   l.quantile(99),
		P999:  l.quantile(99.9),
		Max:   l.max,
	}
}

// quantile returns the value at percentile q, never above the exact maximum
// (HDR reports the top of the bucket holding the value).
func (l *latencyHist) quantile(q float64) int64 {
	v := l.h.ValueAtQuantile(q)
	if v > l.max {
		v = l.max
	}
	return v
}

// percentiles returns the per-second chart values.
func (l *latencyHist) percentiles() Percentiles {
	if l.h.TotalCount() == 0 {
		return Percentiles{}
	}
	return Percentiles{P50: l.quantile(50), P90: l.quantile(90), P99: l.quantile(99), Max: l.max}
}
