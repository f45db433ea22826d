//go:build !linux

package main

import (
	"syscall"
	"time"
)

func childAttrs() *syscall.SysProcAttr { return nil }

// cpuTime is unknown outside Linux.
func cpuTime(int) (time.Duration, bool) { return 0, false }

// peakRSS is unknown outside Linux.
func peakRSS(int) (int64, bool) { return 0, false }

// selfCPU is unknown outside Linux.
func selfCPU() time.Duration { return 0 }
