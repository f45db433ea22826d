package main

import (
	"fmt"
	"slices"
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

	// batchingModes are the --batching modes of the batching phase, one
	// mlgate each; batchingConns are the closed loop's connection counts
	// there, for churn-gbm and mlp256 alike.
	batchingModes []string
	batchingConns []int
	// threadWorkers and threadIntraOp are the --workers and
	// --intra-op-threads of the threads phase (busy batching), one mlgate
	// per pair, measured on mlp256 at threadMLPConns connections; the pairs
	// with one intra-op thread also on churn-gbm at threadChurnConns.
	threadWorkers    []int
	threadIntraOp    []int
	threadMLPConns   int
	threadChurnConns int
	// phaseWarmup and phaseDuration are the batching and threads phases'
	// windows.
	phaseWarmup, phaseDuration time.Duration

	goTestCount     int
	goTestBenchtime string
	// goTestBudget is the time set aside for go test -bench in the
	// estimate.
	goTestBudget time.Duration
}

// fullPlan is `make bench`: about seven and a half minutes of load and go
// test on two cores, inside the ten-minute budget with room for server
// start-up and compilation. The batching and threads phases use shorter windows than the
// headline comparison: they compare mlgate with itself, run against run.
// The Go benchmarks run for 200ms each, six times: with the default
// second, signature and infer alone took over four minutes.
func fullPlan() plan {
	return plan{
		headlineConns: 32,
		sweepConns:    []int{1, 8, 32, 128},
		batchRows:     []int{1, 16, 256},
		loadFractions: []float64{0.10, 0.25, 0.50, 0.75, 0.90},
		maxInFlight:   256,
		warmup:        time.Second,
		duration:      6 * time.Second,
		openWarmup:    time.Second,
		openDuration:  6 * time.Second,
		pause:         300 * time.Millisecond,

		batchingModes:    []string{"off", "busy", "window"},
		batchingConns:    []int{1, 8, 32, 64, 128},
		threadWorkers:    []int{1, 2},
		threadIntraOp:    []int{1, 2},
		threadMLPConns:   64,
		threadChurnConns: 32,
		phaseWarmup:      time.Second,
		phaseDuration:    4 * time.Second,

		goTestCount:     6,
		goTestBenchtime: "200ms",
		goTestBudget:    75 * time.Second,
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

		batchingModes:    []string{"off", "busy", "window"},
		batchingConns:    []int{64},
		threadWorkers:    []int{1, 2},
		threadIntraOp:    []int{1, 2},
		threadMLPConns:   64,
		threadChurnConns: 32,
		phaseWarmup:      300 * time.Millisecond,
		phaseDuration:    time.Second,

		goTestCount:     1,
		goTestBenchtime: "100ms",
		goTestBudget:    20 * time.Second,
	}
}

// withWindow overrides the measured window and warmup of every run when
// they are positive.
func (p plan) withWindow(warmup, duration time.Duration) plan {
	if warmup > 0 {
		p.warmup, p.openWarmup, p.phaseWarmup = warmup, warmup, warmup
	}
	if duration > 0 {
		p.duration, p.openDuration, p.phaseDuration = duration, duration, duration
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
	for _, m := range p.batchingModes {
		if !slices.Contains(batchingModes, m) {
			return fmt.Errorf("batching mode %q: want one of %v", m, batchingModes)
		}
	}
	for _, c := range slices.Concat(p.batchingConns, []int{p.threadMLPConns, p.threadChurnConns}) {
		if c <= 0 {
			return fmt.Errorf("connection count %d: must be positive", c)
		}
	}
	for _, n := range slices.Concat(p.threadWorkers, p.threadIntraOp) {
		if n <= 0 {
			return fmt.Errorf("workers and intra-op threads %d: must be positive", n)
		}
	}
	if p.duration <= 0 || p.openDuration <= 0 || p.phaseDuration <= 0 {
		return fmt.Errorf("measured windows must be positive")
	}
	return nil
}

// batchingModes are mlgate's --batching values.
var batchingModes = []string{"off", "busy", "window"}

// profileSeconds is the length of the CPU profiles taken during the
// headline runs: the measured window less two seconds, at least one.
func (p plan) profileSeconds() int {
	return max(1, int((p.duration-2*time.Second)/time.Second))
}

// profileDelay is when a profile starts after its run began: after the
// warmup, centred in the measured window.
func (p plan) profileDelay() time.Duration {
	return p.warmup + (p.duration-time.Duration(p.profileSeconds())*time.Second)/2
}

// runs counts the load test runs of each kind for the given servers and
// phases: closed and open are the headline phase's, mlgateRuns the
// batching and threads phases' (which run only with mlgate).
func (p plan) runs(servers, phases []string) (closed, open, mlgateRuns int) {
	withMlgate := slices.Contains(servers, serverMlgate)
	if slices.Contains(phases, phaseHeadline) {
		closed = len(p.sweepConns) * len(servers)
		for _, r := range p.batchRows {
			if r == 1 {
				continue
			}
			for _, s := range []string{serverMlgate, serverNaive} {
				if slices.Contains(servers, s) {
					closed++
				}
			}
		}
		for _, s := range []string{serverMlgate, serverNaive} {
			if slices.Contains(servers, s) {
				open += len(p.loadFractions)
			}
		}
	}
	if withMlgate && slices.Contains(phases, phaseBatching) {
		mlgateRuns += 2 * len(p.batchingModes) * len(p.batchingConns)
	}
	if withMlgate && slices.Contains(phases, phaseThreads) {
		mlgateRuns += len(p.threadWorkers) * len(p.threadIntraOp)
		if slices.Contains(p.threadIntraOp, 1) {
			mlgateRuns += len(p.threadWorkers)
		}
	}
	return closed, open, mlgateRuns
}

// estimate is how long the load runs and go test take, without server
// start-up and compilation.
func (p plan) estimate(servers, phases []string, goTest bool) time.Duration {
	closed, open, mlgateRuns := p.runs(servers, phases)
	d := time.Duration(closed)*(p.warmup+p.duration+p.pause) +
		time.Duration(open)*(p.openWarmup+p.openDuration+p.pause) +
		time.Duration(mlgateRuns)*(p.phaseWarmup+p.phaseDuration+p.pause)
	if goTest {
		d += p.goTestBudget
	}
	return d
}

// info is the plan as the suite records it.
func (p plan) info() PlanInfo {
	return PlanInfo{
		Warmup:           p.warmup.String(),
		Duration:         p.duration.String(),
		OpenWarmup:       p.openWarmup.String(),
		OpenDuration:     p.openDuration.String(),
		HeadlineConns:    p.headlineConns,
		SweepConns:       p.sweepConns,
		BatchRows:        p.batchRows,
		LoadFractions:    p.loadFractions,
		MaxInFlight:      p.maxInFlight,
		BatchingModes:    p.batchingModes,
		BatchingConns:    p.batchingConns,
		ThreadWorkers:    p.threadWorkers,
		ThreadIntraOp:    p.threadIntraOp,
		ThreadMLPConns:   p.threadMLPConns,
		ThreadChurnConns: p.threadChurnConns,
		PhaseWarmup:      p.phaseWarmup.String(),
		PhaseDuration:    p.phaseDuration.String(),
		ProfileSeconds:   p.profileSeconds(),
		GoTestCount:      p.goTestCount,
		GoTestBenchtime:  p.goTestBenchtime,
	}
}
