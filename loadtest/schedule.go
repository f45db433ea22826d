package loadtest

import (
	"math"
	"time"
)

// schedule is the open loop's arrival schedule: request i is intended at
// t0 + i/rate. Intended times are computed from i, never accumulated, so
// they do not drift.
type schedule struct {
	rate float64 // requests per second, > 0
}

// at returns request i's intended send time as an offset from t0.
func (s schedule) at(i int64) time.Duration {
	return time.Duration(math.Round(float64(i) * float64(time.Second) / s.rate))
}

// countBefore returns how many requests are intended strictly before d, that
// is the smallest i with at(i) >= d.
func (s schedule) countBefore(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	n := int64(math.Ceil(d.Seconds() * s.rate))
	for n > 0 && s.at(n-1) >= d {
		n--
	}
	for s.at(n) < d {
		n++
	}
	return n
}

// plan is when a run's phases begin and end, as offsets from t0.
type plan struct {
	measureStart time.Duration // end of warmup
	measureEnd   time.Duration // no request is sent (closed) or intended (open) at or after it
	hardDeadline time.Duration // everything stops; measureEnd + grace

	// Open loop only: requests [0, warm) are warmup, [warm, total) measured.
	warm, total int64
}

// newPlan lays out the run described by c (defaults applied).
func newPlan(c *Config) plan {
	p := plan{measureStart: c.Warmup}
	if !c.openLoop() {
		p.measureEnd = c.Warmup + c.Duration
		p.hardDeadline = p.measureEnd + c.Grace
		return p
	}
	s := schedule{rate: c.Rate}
	p.warm = s.countBefore(c.Warmup)
	p.total = math.MaxInt64
	if c.Duration > 0 {
		p.total = s.countBefore(c.Warmup + c.Duration)
	}
	if c.Requests > 0 && p.warm+c.Requests < p.total {
		p.total = p.warm + c.Requests
	}
	p.measureEnd = s.at(p.total)
	if c.Duration > 0 && c.Warmup+c.Duration < p.measureEnd {
		p.measureEnd = c.Warmup + c.Duration
	}
	p.hardDeadline = p.measureEnd + c.Grace
	return p
}
