//go:build !unix

package serve

import "testing"

// processCPU reports nothing where getrusage is missing.
type processCPU struct{}

func startCPU() processCPU { return processCPU{} }

func (processCPU) report(*testing.B) {}
