//go:build race

package loadtest

// raceEnabled reports a -race build, in which sync.Pool drops a share of
// what it is given, so pooled buffers are reallocated now and then.
const raceEnabled = true
