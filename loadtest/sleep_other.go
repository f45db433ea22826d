//go:build !(linux || freebsd || netbsd || openbsd)

package loadtest

import "time"

// preciseSleep sleeps for d; see sleep_nanosleep.go.
func preciseSleep(d time.Duration) { time.Sleep(d) }
