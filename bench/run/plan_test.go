package main

import (
	"strings"
	"testing"
	"time"
)

// TestPlanBudget holds the suite to its time budget on two cores: fifteen
// minutes for the full suite, about two for -quick, with room left for
// server start-up and compiling the harness and the Go benchmarks (the
// registry-route step's 40 s took the full suite past 13 minutes).
func TestPlanBudget(t *testing.T) {
	tests := []struct {
		name   string
		p      plan
		budget time.Duration
	}{
		{"full", fullPlan(), 15 * time.Minute},
		{"quick", quickPlan(), 2*time.Minute + 10*time.Second},
	}
	for _, tt := range tests {
		if err := tt.p.validate(); err != nil {
			t.Errorf("%s plan: %v", tt.name, err)
		}
		if got := tt.p.estimate(allServers, allClients, defaultPhases, 0, true); got > tt.budget {
			t.Errorf("%s plan: estimated %s; want at most %s", tt.name, got, tt.budget)
		}
	}
}

func TestPlanRuns(t *testing.T) {
	p := fullPlan()
	// Batching: churn-gbm off and busy, 6 rounds at 5 counts; mlp256 3
	// modes at 2 counts; widemlp off and busy, 6 rounds, then window.
	// Threads: 2 x 2 pairs on mlp256 and the 2 with one intra-op thread on
	// churn-gbm.
	const batchRuns, batchPhaseRuns, threads = 6 * 2 * 5, 3*2 + 6*2 + 1, 2*2 + 2
	// Protocols: 4 protocols at 2 row counts, 6 rounds, with mlgate.
	const protocols = 4 * 2 * 6
	tests := []struct {
		servers, phases []string
		extra           int
		want            runCounts
	}{
		{allServers, defaultPhases, 0, runCounts{roundRuns: 6 * 3, closed: 3*3 + 2*2, open: 5 * 3,
			batchRuns: batchRuns, phaseRuns: batchPhaseRuns + threads, protocolRuns: protocols}},
		{allServers, defaultPhases, 1, runCounts{roundRuns: 6 * 4, closed: 3*3 + 2*2, open: 5 * 3,
			batchRuns: batchRuns, phaseRuns: batchPhaseRuns + threads, protocolRuns: protocols}},
		{[]string{serverCeiling}, defaultPhases, 1, runCounts{roundRuns: 6, closed: 3, open: 5}},
		{[]string{serverCeiling, serverNaive}, defaultPhases, 0, runCounts{roundRuns: 6 * 2, closed: 3*2 + 2, open: 5 * 2}},
		{allServers, []string{phaseBatching}, 0, runCounts{batchRuns: batchRuns, phaseRuns: batchPhaseRuns}},
		{[]string{serverMlgate}, []string{phaseHeadline, phaseThreads}, 0, runCounts{roundRuns: 6, closed: 3 + 2, open: 5, phaseRuns: threads, protocolRuns: protocols}},
		{allServers, []string{phasePGO}, 0, runCounts{pgoRuns: pgoLoads}},
	}
	// A -lever run: the rounds and nothing else of the headline phase.
	if got, want := p.roundsOnly().runs([]string{serverMlgate}, []string{phaseHeadline}, 1), (runCounts{roundRuns: 6 * 2}); got != want {
		t.Errorf("rounds only: got %+v; want %+v", got, want)
	}
	for _, tt := range tests {
		if got := p.runs(tt.servers, tt.phases, tt.extra); got != tt.want {
			t.Errorf("runs(%v, %v, %d extra): got %+v; want %+v", tt.servers, tt.phases, tt.extra, got, tt.want)
		}
	}
	// wrk adds a pass per round run, loadtest runs them in-process.
	one := p.estimate([]string{serverCeiling}, []string{clientLoadtest}, []string{phaseHeadline}, 0, false)
	two := p.estimate([]string{serverCeiling}, allClients, []string{phaseHeadline}, 0, false)
	if two <= one {
		t.Errorf("estimate with both clients %s; want more than with loadtest alone, %s", two, one)
	}
}

func TestPlanValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*plan)
		want   string
	}{
		{"a load fraction above 1", func(p *plan) { p.loadFractions = []float64{0.5, 1.5} }, "load fraction"},
		{"an unknown batching mode", func(p *plan) { p.batchingModes = []string{"off", "busy", "always"} }, "batching mode"},
		{"busy left out", func(p *plan) { p.batchingModes = []string{"off", "window"} }, "off and busy"},
		{"zero workers", func(p *plan) { p.threadWorkers = []int{0, 2} }, "workers"},
		{"no rounds", func(p *plan) { p.rounds = 0 }, "rounds"},
		{"a wrk window in milliseconds", func(p *plan) { p.roundDuration = 2500 * time.Millisecond }, "whole seconds"},
		{"no wrk warmup", func(p *plan) { p.roundWarmup = 0 }, "at least 1s"},
		{"zero connections", func(p *plan) { p.wideConns = 0 }, "connection count"},
	}
	for _, tt := range tests {
		p := fullPlan()
		tt.change(&p)
		if err := p.validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v; want an error mentioning %q", tt.name, err, tt.want)
		}
	}
	p := fullPlan().withWindow(time.Second, 2500*time.Millisecond).withRounds(8)
	if p.warmup != time.Second || p.openDuration != 2500*time.Millisecond || p.phaseDuration != 2500*time.Millisecond ||
		p.batchDuration != 2500*time.Millisecond || p.roundDuration != 3*time.Second || p.rounds != 8 {
		t.Errorf("withWindow and withRounds: got %+v", p)
	}
	if err := p.validate(); err != nil {
		t.Errorf("after withWindow: %v", err)
	}
}

func TestPlanProfileWindow(t *testing.T) {
	tests := []struct {
		warmup, duration time.Duration
		seconds          int
		delay            time.Duration
	}{
		{time.Second, 3 * time.Second, 2, 1500 * time.Millisecond},
		{time.Second, time.Second, 1, time.Second},
		{time.Second, 10 * time.Second, 9, 1500 * time.Millisecond},
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
