//go:build !linux

package loadtest

// tightenTimerSlack does nothing where timer slack cannot be set.
func tightenTimerSlack() (restore func()) { return func() {} }
