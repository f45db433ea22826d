//go:build !race

package testutil

// RaceEnabled reports a -race build. The race detector makes sync.Pool
// drop a share of what it is given, so allocation counts are meaningless
// under it: make test runs the allocation tests again without -race.
const RaceEnabled = false
