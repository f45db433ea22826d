//go:build linux || freebsd || netbsd || openbsd

package loadtest

import (
	"syscall"
	"time"
)

// preciseSleep sleeps for d with the kernel's high-resolution timer. A Go
// timer due in under a millisecond on an otherwise idle process waits for
// the runtime's network poller, whose timeout is whole milliseconds, so
// open-loop sends would fall up to a millisecond behind schedule; nanosleep
// wakes within the kernel's timer slack (50 µs by default on Linux).
func preciseSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for {
		var left syscall.Timespec
		if err := syscall.Nanosleep(&ts, &left); err != syscall.EINTR {
			return
		}
		ts = left
	}
}
