//go:build unix

package serve

import (
	"syscall"
	"testing"
	"time"
)

// processCPU measures the CPU time the process spends over a benchmark
// loop, which a machine busy with other work inflates less than the wall
// time of ns/op.
type processCPU struct{ start time.Duration }

func startCPU() processCPU { return processCPU{cpuTime()} }

// report adds cpu-ns/op, the process's CPU time per operation.
func (c processCPU) report(b *testing.B) {
	b.ReportMetric(float64(cpuTime()-c.start)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
