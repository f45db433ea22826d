package loadtest

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

func timerSlack(t *testing.T) uintptr {
	t.Helper()
	v, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetTimerSlack, 0, 0)
	if errno != 0 {
		t.Fatalf("PR_GET_TIMERSLACK: %v", errno)
	}
	return v
}

// The open loop's dispatcher tightens its thread's timer slack while it
// runs and gives the thread back as it found it.
func TestTightenTimerSlackRestores(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := timerSlack(t)
	restore := tightenTimerSlack()
	if got := timerSlack(t); got != 1000 {
		t.Errorf("slack while tightened: %d ns; want 1000", got)
	}
	restore()
	if got := timerSlack(t); got != before {
		t.Errorf("slack after restore: %d ns; want %d as before", got, before)
	}
}

// preciseSleep sleeps at least as long as asked: the open loop never sends
// a request before its intended time.
func TestPreciseSleepNotEarly(t *testing.T) {
	for _, d := range []time.Duration{time.Microsecond, 150 * time.Microsecond, 2 * time.Millisecond} {
		start := time.Now()
		preciseSleep(d)
		if got := time.Since(start); got < d {
			t.Errorf("preciseSleep(%s) returned after %s", d, got)
		}
	}
}
