package main

import "math"

// The targets mlgate's performance work set itself. The generated section
// states whether a run met them; a miss does not fail the run.
const (
	// busyTargetRatio is the least mlp256 throughput with batching busy
	// over batching off, at busyTargetConns connections.
	busyTargetRatio = 3.0
	busyTargetConns = 64
	// halfSatFraction is the open-loop load, as a fraction of mlgate's
	// saturation throughput, at which halfSatP99Micros applies.
	halfSatFraction  = 0.5
	halfSatP99Micros = 2000
)

// verdict is PASS or FAIL for a measured value, n/a when it is unknown.
func verdict(known, pass bool) string {
	switch {
	case !known:
		return "n/a"
	case pass:
		return "PASS"
	default:
		return "FAIL"
	}
}

// busyOverOff returns model's throughput with batching busy over off at
// conns connections, NaN when either run is missing.
func (s *Suite) busyOverOff(model string, conns int) float64 {
	return s.modeRatio(model, conns, "busy")
}

// modeRatio returns model's throughput with batching mode over off at
// conns connections, NaN when either run is missing.
func (s *Suite) modeRatio(model string, conns int, mode string) float64 {
	off := s.batchingRun(model, conns, "off")
	other := s.batchingRun(model, conns, mode)
	return ratio(throughput(other), throughput(off))
}

// batchingRun returns the batching phase's run of model at conns
// connections in mode, or nil.
func (s *Suite) batchingRun(model string, conns int, mode string) *RunResult {
	return s.modelRun(phaseBatching, model, conns, func(r *RunResult) bool { return r.Batching == mode })
}

// targetBusy is the batching target's measured ratio and verdict.
func (s *Suite) targetBusy() (float64, string) {
	v := s.busyOverOff(mlpModel, busyTargetConns)
	return v, verdict(!math.IsNaN(v), v >= busyTargetRatio)
}

// targetHalfSat is mlgate's open-loop run at half its saturation and the
// verdict on its p99; the run is nil when there is none.
func (s *Suite) targetHalfSat() (*RunResult, string) {
	r := s.openRun(serverMlgate, halfSatFraction)
	v := p99(r)
	return r, verdict(!math.IsNaN(v), v <= halfSatP99Micros)
}

// targets writes the targets table.
func (r *renderer) targets() {
	s := r.s
	busy, busyVerdict := s.targetBusy()
	half, halfVerdict := s.targetHalfSat()
	halfP99 := "n/a"
	if half != nil && half.Summary.Responses > 0 {
		halfP99 = fmtMicros(half.Summary.P99)
	}
	r.p("| target | measured | |\n|---|---:|---|\n")
	r.p("| mlgate p99 ≤ %s at %s of its saturation throughput (open loop, churn-gbm, one row) | %s | **%s** |\n",
		fmtMicros(halfSatP99Micros), fmtPercent(halfSatFraction), halfP99, halfVerdict)
	r.p("| mlp256 throughput with batching busy ≥ %.0f× off, %d connections | %s | **%s** |\n\n",
		busyTargetRatio, busyTargetConns, fmtRatio(busy), busyVerdict)
	r.p("Each line states a fact about this run; a missed target does not fail `make bench`.\n\n")
}
