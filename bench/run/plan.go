package main

import (
	"fmt"
	"slices"
	"time"
)

// plan is what the suite runs and for how long.
type plan struct {
	// headlineConns is the closed loop's saturation point: the headline
	// rounds, the batch sizes and the saturation the open loop is scaled
	// to are all measured at this many connections.
	headlineConns int
	// rounds is the number of interleaved rounds of the headline and of
	// the batching comparisons: in each round every server (or mode) runs
	// once, one after the other, so that drift on the machine affects them
	// alike, and the figures are medians over rounds with benchstat's
	// confidence interval (which needs six).
	rounds int
	// roundWarmup and roundDuration are each headline round's windows.
	// wrk takes whole seconds, so the duration must be whole seconds and
	// the warmup, a wrk pass that also checks every answer's status, lasts
	// at least one.
	roundWarmup, roundDuration time.Duration
	// wrkThreads is wrk's -t.
	wrkThreads int
	// sweepConns are the connection counts of the one-row closed loop
	// besides headlineConns, which the rounds measure.
	sweepConns []int
	// batchRows are the rows per request measured at headlineConns, for
	// mlgate and naive; 1 is the rounds' runs.
	batchRows []int
	// loadFractions are the open loop's offered loads, as fractions of each
	// server's one-row saturation throughput (the rounds' median).
	loadFractions []float64
	// maxInFlight bounds the open loop's concurrent requests.
	maxInFlight int
	// protocolRows are the rows per request of the protocol rounds, which
	// run protocolRounds times every protocol against mlgate at
	// headlineConns, with protocolWarmup and protocolDuration.
	protocolRows                     []int
	protocolRounds                   int
	protocolWarmup, protocolDuration time.Duration

	warmup, duration         time.Duration // single closed-loop runs
	openWarmup, openDuration time.Duration // open loop
	// pause separates runs so that one run's connection teardown is over
	// before the next starts.
	pause time.Duration

	// batchingModes are the --batching modes of the batching phase, one
	// mlgate each. On churn-gbm, off and busy run in rounds at each of
	// batchingConns, with batchWarmup and batchDuration; on mlp256 every
	// mode runs once at each of mlpConns, and on widemlp off and busy run
	// in rounds at wideConns, then window once, with the phase windows.
	batchingModes              []string
	batchingConns              []int
	batchWarmup, batchDuration time.Duration
	mlpConns                   []int
	wideConns                  int
	// threadWorkers and threadIntraOp are the --workers and
	// --intra-op-threads of the threads phase (busy batching), one mlgate
	// per pair, measured on mlp256 at threadMLPConns connections; the pairs
	// with one intra-op thread also on churn-gbm at threadChurnConns.
	threadWorkers    []int
	threadIntraOp    []int
	threadMLPConns   int
	threadChurnConns int
	// phaseWarmup and phaseDuration are the mlp256, widemlp and threads
	// runs' windows.
	phaseWarmup, phaseDuration time.Duration

	// goTestCount and goTestBenchtime are the hot-path Go benchmarks'
	// settings; handlerCount and handlerBenchtime those of the handler
	// benchmarks (./serve), whose allocations are a goal.
	goTestCount      int
	goTestBenchtime  string
	handlerCount     int
	handlerBenchtime string
	// registryCount and registryBenchtime are the registry-route
	// benchmark's (./cmd/mlgate's BenchmarkRegistryRoute), whose cold
	// starts take 10 to 50 ms each: at 500ms a run's p99 rests on 10 to
	// 60 of them.
	registryCount     int
	registryBenchtime string
	// goTestBudget is the time set aside for the go test runs in the
	// estimate.
	goTestBudget time.Duration

	// pgoSeconds is the length of each of the pgo phase's profiles.
	pgoSeconds int
}

// fullPlan is `make bench`: about thirteen and a half minutes of load and go
// test on two cores, inside the fifteen-minute budget with room for server
// start-up and compilation. Single runs of the headline phase have 4 s
// windows; the rounds have shorter ones but six of them; the batching
// rounds on churn-gbm, thirty runs a round, are the shortest.
func fullPlan() plan {
	return plan{
		headlineConns:    32,
		rounds:           6,
		roundWarmup:      time.Second,
		roundDuration:    3 * time.Second,
		wrkThreads:       1,
		sweepConns:       []int{1, 8, 128},
		batchRows:        []int{1, 16, 256},
		loadFractions:    []float64{0.10, 0.25, 0.50, 0.75, 0.90},
		maxInFlight:      256,
		protocolRows:     []int{1, 64},
		protocolRounds:   6,
		protocolWarmup:   250 * time.Millisecond,
		protocolDuration: 750 * time.Millisecond,
		warmup:           time.Second,
		duration:         4 * time.Second,
		openWarmup:       time.Second,
		openDuration:     4 * time.Second,
		pause:            300 * time.Millisecond,

		batchingModes:    []string{"off", "busy", "window"},
		batchingConns:    []int{1, 8, 32, 64, 128},
		batchWarmup:      500 * time.Millisecond,
		batchDuration:    2 * time.Second,
		mlpConns:         []int{8, 64},
		wideConns:        64,
		threadWorkers:    []int{1, 2},
		threadIntraOp:    []int{1, 2},
		threadMLPConns:   64,
		threadChurnConns: 32,
		phaseWarmup:      time.Second,
		phaseDuration:    3 * time.Second,

		goTestCount:      6,
		goTestBenchtime:  "200ms",
		handlerCount:     6,
		handlerBenchtime: "2s",
		// The registry routes' step ran in about 30 s at 6 × 500ms on
		// two cores, compiling aside.
		registryCount:     6,
		registryBenchtime: "500ms",
		goTestBudget:      200 * time.Second,

		pgoSeconds: 8,
	}
}

// quickPlan is the smoke run: every phase, two rounds, short windows,
// about two minutes.
func quickPlan() plan {
	return plan{
		headlineConns:    32,
		rounds:           2,
		roundWarmup:      time.Second,
		roundDuration:    time.Second,
		wrkThreads:       1,
		sweepConns:       []int{8},
		batchRows:        []int{1, 16, 256},
		loadFractions:    []float64{0.25, 0.50, 0.75},
		maxInFlight:      256,
		protocolRows:     []int{1, 64},
		protocolRounds:   2,
		protocolWarmup:   200 * time.Millisecond,
		protocolDuration: 500 * time.Millisecond,
		warmup:           300 * time.Millisecond,
		duration:         time.Second,
		openWarmup:       300 * time.Millisecond,
		openDuration:     time.Second,
		pause:            200 * time.Millisecond,

		batchingModes:    []string{"off", "busy", "window"},
		batchingConns:    []int{8, 64},
		batchWarmup:      200 * time.Millisecond,
		batchDuration:    500 * time.Millisecond,
		mlpConns:         []int{64},
		wideConns:        64,
		threadWorkers:    []int{1, 2},
		threadIntraOp:    []int{1, 2},
		threadMLPConns:   64,
		threadChurnConns: 32,
		phaseWarmup:      300 * time.Millisecond,
		phaseDuration:    time.Second,

		goTestCount:       1,
		goTestBenchtime:   "100ms",
		handlerCount:      1,
		handlerBenchtime:  "100ms",
		registryCount:     1,
		registryBenchtime: "100ms",
		goTestBudget:      36 * time.Second,

		pgoSeconds: 2,
	}
}

// withWindow overrides the measured window and warmup of every run when
// they are positive; wrk's windows are rounded up to whole seconds.
func (p plan) withWindow(warmup, duration time.Duration) plan {
	if warmup > 0 {
		p.warmup, p.openWarmup, p.phaseWarmup, p.batchWarmup, p.protocolWarmup = warmup, warmup, warmup, warmup, warmup
		p.roundWarmup = time.Duration(wholeSeconds(warmup)) * time.Second
	}
	if duration > 0 {
		p.duration, p.openDuration, p.phaseDuration, p.batchDuration, p.protocolDuration = duration, duration, duration, duration, duration
		p.roundDuration = time.Duration(wholeSeconds(duration)) * time.Second
	}
	return p
}

// roundsOnly keeps only the headline phase's interleaved rounds: no
// connection sweep, no batch sizes, no protocol rounds and no open loop.
func (p plan) roundsOnly() plan {
	p.sweepConns, p.batchRows, p.loadFractions, p.protocolRows = nil, []int{1}, nil, nil
	return p
}

// withRounds overrides the number of rounds when it is positive.
func (p plan) withRounds(rounds int) plan {
	if rounds > 0 {
		p.rounds = rounds
	}
	return p
}

// validate checks the plan's internal consistency.
func (p plan) validate() error {
	if p.headlineConns <= 0 || p.rounds <= 0 || p.wrkThreads <= 0 {
		return fmt.Errorf("headline connections, rounds and wrk threads must be positive")
	}
	for _, r := range slices.Concat(p.batchRows, p.protocolRows) {
		if r <= 0 {
			return fmt.Errorf("batch rows %d: must be positive", r)
		}
	}
	if p.protocolRounds <= 0 || p.protocolDuration <= 0 {
		return fmt.Errorf("protocol rounds and window must be positive")
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
	for _, m := range []string{"off", "busy"} {
		if !slices.Contains(p.batchingModes, m) {
			return fmt.Errorf("batching modes %v: off and busy are compared, so both must be there", p.batchingModes)
		}
	}
	for _, c := range slices.Concat(p.sweepConns, p.batchingConns, p.mlpConns, []int{p.wideConns, p.threadMLPConns, p.threadChurnConns}) {
		if c <= 0 {
			return fmt.Errorf("connection count %d: must be positive", c)
		}
	}
	for _, n := range slices.Concat(p.threadWorkers, p.threadIntraOp) {
		if n <= 0 {
			return fmt.Errorf("workers and intra-op threads %d: must be positive", n)
		}
	}
	if p.duration <= 0 || p.openDuration <= 0 || p.phaseDuration <= 0 || p.batchDuration <= 0 || p.roundDuration <= 0 {
		return fmt.Errorf("measured windows must be positive")
	}
	if p.roundDuration%time.Second != 0 || p.roundWarmup%time.Second != 0 || p.roundWarmup < time.Second {
		return fmt.Errorf("round windows %s and %s: wrk takes whole seconds, and the warmup checks statuses, so it lasts at least 1s", p.roundWarmup, p.roundDuration)
	}
	if p.pgoSeconds <= 0 {
		return fmt.Errorf("pgo profile length must be positive")
	}
	return nil
}

// batchingModes are mlgate's --batching values.
var batchingModes = []string{"off", "busy", "window"}

// profileSeconds is the length of the CPU profiles taken during the last
// headline round: the measured window less one second, at least one.
func (p plan) profileSeconds() int {
	return max(1, int((p.roundDuration-time.Second)/time.Second))
}

// profileDelay is when a profile starts after its run began: after the
// warmup, centred in the measured window.
func (p plan) profileDelay() time.Duration {
	return p.roundWarmup + (p.roundDuration-time.Duration(p.profileSeconds())*time.Second)/2
}

// pgoLoads is the number of loads the pgo phase profiles mlgate under.
const pgoLoads = 3

// runCounts are the load runs of each kind a plan makes.
type runCounts struct {
	// roundRuns are the headline rounds' runs of each client.
	roundRuns int
	// closed and open are the headline phase's single runs.
	closed, open int
	// batchRuns are the churn-gbm batching rounds' runs, phaseRuns the
	// other batching runs and the threads phase's.
	batchRuns, phaseRuns int
	// pgoRuns are the pgo phase's runs.
	pgoRuns int
	// protocolRuns are the protocol rounds' runs.
	protocolRuns int
}

// runs counts the load runs for the given servers (with extra more mlgate
// processes in the headline rounds: the baseline, the one with the status
// page open) and phases; each headline round runs once
// per client. The batching, threads
// and pgo phases run only with mlgate.
func (p plan) runs(servers, phases []string, extra int) runCounts {
	var n runCounts
	withMlgate := slices.Contains(servers, serverMlgate)
	if slices.Contains(phases, phaseHeadline) {
		roundServers := len(servers)
		if withMlgate {
			roundServers += extra
		}
		n.roundRuns = p.rounds * roundServers
		n.closed = len(p.sweepConns) * len(servers)
		for _, r := range p.batchRows {
			if r == 1 {
				continue
			}
			for _, s := range []string{serverMlgate, serverNaive} {
				if slices.Contains(servers, s) {
					n.closed++
				}
			}
		}
		n.open = len(servers) * len(p.loadFractions)
		if withMlgate {
			n.protocolRuns = p.protocolRounds * len(p.protocolRows) * len(allProtocols)
		}
	}
	if withMlgate && slices.Contains(phases, phaseBatching) {
		n.batchRuns = p.rounds * 2 * len(p.batchingConns)
		n.phaseRuns += len(p.batchingModes) * len(p.mlpConns)
		n.phaseRuns += p.rounds*2 + len(p.batchingModes) - 2
	}
	if withMlgate && slices.Contains(phases, phaseThreads) {
		n.phaseRuns += len(p.threadWorkers) * len(p.threadIntraOp)
		if slices.Contains(p.threadIntraOp, 1) {
			n.phaseRuns += len(p.threadWorkers)
		}
	}
	if withMlgate && slices.Contains(phases, phasePGO) {
		n.pgoRuns = pgoLoads
	}
	return n
}

// estimate is how long the load runs and go test take, without server
// start-up and compilation.
func (p plan) estimate(servers, clients, phases []string, extra int, goTest bool) time.Duration {
	n := p.runs(servers, phases, extra)
	round := time.Duration(0)
	for _, c := range clients {
		switch c {
		case clientWrk:
			// The status-checking warmup pass, the measured pass and
			// starting wrk twice.
			round += p.roundWarmup + p.roundDuration + p.pause + 50*time.Millisecond
		default:
			round += p.roundWarmup + p.roundDuration + p.pause
		}
	}
	d := time.Duration(n.roundRuns)*round +
		time.Duration(n.closed)*(p.warmup+p.duration+p.pause) +
		time.Duration(n.open)*(p.openWarmup+p.openDuration+p.pause) +
		time.Duration(n.batchRuns)*(p.batchWarmup+p.batchDuration+p.pause) +
		time.Duration(n.phaseRuns)*(p.phaseWarmup+p.phaseDuration+p.pause) +
		time.Duration(n.pgoRuns)*(p.warmup+time.Duration(p.pgoSeconds+2)*time.Second+p.pause) +
		time.Duration(n.protocolRuns)*(p.protocolWarmup+p.protocolDuration+p.pause)
	if goTest {
		d += p.goTestBudget
	}
	return d
}

// info is the plan as the suite records it.
func (p plan) info() PlanInfo {
	return PlanInfo{
		Warmup:            p.warmup.String(),
		Duration:          p.duration.String(),
		OpenWarmup:        p.openWarmup.String(),
		OpenDuration:      p.openDuration.String(),
		HeadlineConns:     p.headlineConns,
		Rounds:            p.rounds,
		RoundWarmup:       p.roundWarmup.String(),
		RoundDuration:     p.roundDuration.String(),
		WrkThreads:        p.wrkThreads,
		SweepConns:        p.sweepConns,
		BatchRows:         p.batchRows,
		LoadFractions:     p.loadFractions,
		MaxInFlight:       p.maxInFlight,
		ProtocolRows:      p.protocolRows,
		ProtocolRounds:    p.protocolRounds,
		ProtocolWarmup:    p.protocolWarmup.String(),
		ProtocolDuration:  p.protocolDuration.String(),
		BatchingModes:     p.batchingModes,
		BatchingConns:     p.batchingConns,
		BatchWarmup:       p.batchWarmup.String(),
		BatchDuration:     p.batchDuration.String(),
		MLPConns:          p.mlpConns,
		WideConns:         p.wideConns,
		ThreadWorkers:     p.threadWorkers,
		ThreadIntraOp:     p.threadIntraOp,
		ThreadMLPConns:    p.threadMLPConns,
		ThreadChurnConns:  p.threadChurnConns,
		PhaseWarmup:       p.phaseWarmup.String(),
		PhaseDuration:     p.phaseDuration.String(),
		ProfileSeconds:    p.profileSeconds(),
		GoTestCount:       p.goTestCount,
		GoTestBenchtime:   p.goTestBenchtime,
		HandlerCount:      p.handlerCount,
		HandlerBenchtime:  p.handlerBenchtime,
		RegistryCount:     p.registryCount,
		RegistryBenchtime: p.registryBenchtime,
	}
}
