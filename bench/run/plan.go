package main

import (
	"fmt"
	"time"
)

// plan is what the suite runs and for how long.
type plan struct {
	// headlineConns is the closed loop's saturation point: the headline
	// numbers, the batch sizes and the saturation the open loop is scaled
	// to are all measured at this many connections.
	headlineConns int
	// sweepConns are the connection counts of the one-row closed loop; it
	// includes headlineConns.
	sweepConns []int
	// batchRows are the rows per request measured at headlineConns, for
	// mlgate and naive; 1 is the sweep's run.
	batchRows []int
	// loadFractions are the open loop's offered loads, as fractions of each
	// server's one-row saturation throughput.
	loadFractions []float64
	// maxInFlight bounds the open loop's concurrent requests.
	maxInFlight int

	warmup, duration         time.Duration // closed loop
	openWarmup, openDuration time.Duration // open loop
	// pause separates runs so that one run's connection teardown is over
	// before the next starts.
	pause time.Duration

	goTestCount     int
	goTestBenchtime string
	// goTestBudget is the time set aside for go test -bench in the
	// estimate.
	goTestBudget time.Duration
}

// fullPlan is `make bench`: about seven minutes on two cores, inside the
// ten-minute budget with room for server start-up and compilation. The Go
// benchmarks run for 300ms each, six times: with the default second,
// signature and infer alone took over four minutes.
func fullPlan() plan {
	return plan{
		headlineConns: 32,
		sweepConns:    []int{1, 8, 32, 128},
		batchRows:     []int{1, 16, 256},
		loadFractions: []float64{0.10, 0.25, 0.50, 0.75, 0.90},
		maxInFlight:   256,
		warmup:        2 * time.Second,
		duration:      10 * time.Second,
		openWarmup:    2 * time.Second,
		openDuration:  8 * time.Second,
		pause:         500 * time.Millisecond,

		goTestCount:     6,
		goTestBenchtime: "300ms",
		goTestBudget:    120 * time.Second,
	}
}

// quickPlan is the smoke run: every phase, short windows, about a minute.
func quickPlan() plan {
	return plan{
		headlineConns: 32,
		sweepConns:    []int{32},
		batchRows:     []int{1, 16, 256},
		loadFractions: []float64{0.25, 0.50, 0.75},
		maxInFlight:   256,
		warmup:        500 * time.Millisecond,
		duration:      2 * time.Second,
		openWarmup:    500 * time.Millisecond,
		openDuration:  2 * time.Second,
		pause:         200 * time.Millisecond,

		goTestCount:     1,
		goTestBenchtime: "100ms",
		goTestBudget:    20 * time.Second,
	}
}

// withWindow overrides the measured window and warmup of every run when
// they are positive.
func (p plan) withWindow(warmup, duration time.Duration) plan {
	if warmup > 0 {
		p.warmup, p.openWarmup = warmup, warmup
	}
	if duration > 0 {
		p.duration, p.openDuration = duration, duration
	}
	return p
}

// validate checks the plan's internal consistency.
func (p plan) validate() error {
	found := false
	for _, c := range p.sweepConns {
		if c <= 0 {
			return fmt.Errorf("connection count %d: must be positive", c)
		}
		found = found || c == p.headlineConns
	}
	if !found {
		return fmt.Errorf("the sweep %v must include the headline connection count %d", p.sweepConns, p.headlineConns)
	}
	for _, r := range p.batchRows {
		if r <= 0 {
			return fmt.Errorf("batch rows %d: must be positive", r)
		}
	}
	for _, f := range p.loadFractions {
		if !(f > 0 && f <= 1) {
			return fmt.Errorf("load fraction %v: must be in (0, 1]", f)
		}
	}
	if p.duration <= 0 || p.openDuration <= 0 {
		return fmt.Errorf("measured windows must be positive")
	}
	return nil
}

// runs counts the load test runs of each phase for the given servers.
func (p plan) runs(servers []string) (closed, open int) {
	has := func(name string) bool {
		for _, s := range servers {
			if s == name {
				return true
			}
		}
		return false
	}
	closed = len(p.sweepConns) * len(servers)
	for _, r := range p.batchRows {
		if r == 1 {
			continue
		}
		for _, s := range []string{serverMlgate, serverNaive} {
			if has(s) {
				closed++
			}
		}
	}
	for _, s := range []string{serverMlgate, serverNaive} {
		if has(s) {
			open += len(p.loadFractions)
		}
	}
	return closed, open
}

// estimate is how long the load runs and go test take, without server
// start-up and compilation.
func (p plan) estimate(servers []string, goTest bool) time.Duration {
	closed, open := p.runs(servers)
	d := time.Duration(closed)*(p.warmup+p.duration+p.pause) +
		time.Duration(open)*(p.openWarmup+p.openDuration+p.pause)
	if goTest {
		d += p.goTestBudget
	}
	return d
}

// info is the plan as the suite records it.
func (p plan) info() PlanInfo {
	return PlanInfo{
		Warmup:          p.warmup.String(),
		Duration:        p.duration.String(),
		OpenWarmup:      p.openWarmup.String(),
		OpenDuration:    p.openDuration.String(),
		HeadlineConns:   p.headlineConns,
		SweepConns:      p.sweepConns,
		BatchRows:       p.batchRows,
		LoadFractions:   p.loadFractions,
		MaxInFlight:     p.maxInFlight,
		GoTestCount:     p.goTestCount,
		GoTestBenchtime: p.goTestBenchtime,
	}
}
