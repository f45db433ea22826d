package loadtest

import "syscall"

const (
	prSetTimerSlack = 29 // PR_SET_TIMERSLACK
	prGetTimerSlack = 30 // PR_GET_TIMERSLACK
)

// tightenTimerSlack sets the calling thread's timer slack to 1 µs, so that
// preciseSleep wakes within microseconds of its deadline rather than the
// default 50 µs, and returns a function that restores it. The caller holds
// its OS thread (runtime.LockOSThread) until it has restored it.
func tightenTimerSlack() (restore func()) {
	old, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetTimerSlack, 0, 0)
	if errno != 0 {
		return func() {}
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1000, 0); errno != 0 {
		return func() {}
	}
	return func() { syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, old, 0) }
}
