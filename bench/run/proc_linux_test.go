package main

import (
	"os"
	"testing"
)

func TestProcSelf(t *testing.T) {
	if _, ok := cpuTime(os.Getpid()); !ok {
		t.Error("cpuTime of this process: not readable")
	}
	if kib, ok := peakRSS(os.Getpid()); !ok || kib <= 0 {
		t.Errorf("peakRSS of this process: got %d KiB, %v; want a positive size", kib, ok)
	}
	if _, ok := cpuTime(-1); ok {
		t.Error("cpuTime of no process: got ok")
	}
}
