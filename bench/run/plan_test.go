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
		{"full", fullPlan(), 9 * time.Minute},
		{"quick", quickPlan(), 70 * time.Second},
	}
	for _, tt := range tests {
		if err := tt.p.validate(); err != nil {
			t.Errorf("%s plan: %v", tt.name, err)
		}
		if got := tt.p.estimate(allServers, true); got > tt.budget {
			t.Errorf("%s plan: estimated %s; want at most %s", tt.name, got, tt.budget)
		}
	}
}

func TestPlanRuns(t *testing.T) {
	p := fullPlan()
	tests := []struct {
		servers          []string
		closed, openRuns int
	}{
		{allServers, 4*3 + 2*2, 5 * 2},
		{[]string{serverCeiling}, 4, 0},
		{[]string{serverCeiling, serverNaive}, 4*2 + 2, 5},
	}
	for _, tt := range tests {
		closed, open := p.runs(tt.servers)
		if closed != tt.closed || open != tt.openRuns {
			t.Errorf("runs(%v): got %d closed, %d open; want %d, %d", tt.servers, closed, open, tt.closed, tt.openRuns)
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
	p = fullPlan().withWindow(time.Second, 3*time.Second)
	if p.warmup != time.Second || p.openDuration != 3*time.Second {
		t.Errorf("withWindow: got warmup %s, open window %s; want 1s, 3s", p.warmup, p.openDuration)
	}
}
