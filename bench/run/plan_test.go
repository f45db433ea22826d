package main

import (
	"testing"
	"time"
)

// TestPlanBudget holds the suite to its time budget on two cores: ten
// minutes for the full suite, about a minute for -quick, with room left for
// server start-up and compiling the harness and the Go benchmarks.
func TestPlanBudget(t *testing.T) {
	tests := []struct {
		name   string
		p      plan
		budget time.Duration
	}{
		{"full", fullPlan(), 8*time.Minute + 30*time.Second},
		{"quick", quickPlan(), 80 * time.Second},
	}
	for _, tt := range tests {
		if err := tt.p.validate(); err != nil {
			t.Errorf("%s plan: %v", tt.name, err)
		}
		if got := tt.p.estimate(allServers, allPhases, true); got > tt.budget {
			t.Errorf("%s plan: estimated %s; want at most %s", tt.name, got, tt.budget)
		}
	}
}

func TestPlanRuns(t *testing.T) {
	p := fullPlan()
	// Batching: 2 models x 3 modes x 5 connection counts; threads: 2 x 2
	// pairs on mlp256 and the 2 with one intra-op thread on churn-gbm.
	const batching, threads = 2 * 3 * 5, 2*2 + 2
	tests := []struct {
		servers, phases          []string
		closed, openRuns, mlgate int
	}{
		{allServers, allPhases, 4*3 + 2*2, 5 * 2, batching + threads},
		{[]string{serverCeiling}, allPhases, 4, 0, 0},
		{[]string{serverCeiling, serverNaive}, allPhases, 4*2 + 2, 5, 0},
		{allServers, []string{phaseBatching}, 0, 0, batching},
		{[]string{serverMlgate}, []string{phaseHeadline, phaseThreads}, 4 + 2, 5, threads},
	}
	for _, tt := range tests {
		closed, open, mlgate := p.runs(tt.servers, tt.phases)
		if closed != tt.closed || open != tt.openRuns || mlgate != tt.mlgate {
			t.Errorf("runs(%v, %v): got %d closed, %d open, %d mlgate; want %d, %d, %d",
				tt.servers, tt.phases, closed, open, mlgate, tt.closed, tt.openRuns, tt.mlgate)
		}
	}
}

func TestPlanValidate(t *testing.T) {
	p := fullPlan()
	p.sweepConns = []int{1, 8}
	if err := p.validate(); err == nil {
		t.Error("a sweep without the headline connection count: got no error")
	}
	p = fullPlan()
	p.loadFractions = []float64{0.5, 1.5}
	if err := p.validate(); err == nil {
		t.Error("a load fraction above 1: got no error")
	}
	p = fullPlan()
	p.batchingModes = []string{"off", "always"}
	if err := p.validate(); err == nil {
		t.Error("an unknown batching mode: got no error")
	}
	p = fullPlan()
	p.threadWorkers = []int{0, 2}
	if err := p.validate(); err == nil {
		t.Error("zero workers: got no error")
	}
	p = fullPlan().withWindow(time.Second, 3*time.Second)
	if p.warmup != time.Second || p.openDuration != 3*time.Second || p.phaseDuration != 3*time.Second {
		t.Errorf("withWindow: got warmup %s, open window %s, phase window %s; want 1s, 3s, 3s", p.warmup, p.openDuration, p.phaseDuration)
	}
}

func TestPlanProfileWindow(t *testing.T) {
	tests := []struct {
		warmup, duration time.Duration
		seconds          int
		delay            time.Duration
	}{
		{time.Second, 6 * time.Second, 4, 2 * time.Second},
		{500 * time.Millisecond, 2 * time.Second, 1, time.Second},
		{time.Second, 10 * time.Second, 8, 2 * time.Second},
	}
	for _, tt := range tests {
		p := fullPlan().withWindow(tt.warmup, tt.duration)
		if got := p.profileSeconds(); got != tt.seconds {
			t.Errorf("window %s: profile seconds: got %d; want %d", tt.duration, got, tt.seconds)
		}
		if got := p.profileDelay(); got != tt.delay {
			t.Errorf("window %s after %s warmup: profile delay: got %s; want %s", tt.duration, tt.warmup, got, tt.delay)
		}
	}
}
