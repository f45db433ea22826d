package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// describeMachine returns what BENCHMARKS.md states about the machine:
// the CPUs the harness may use, the CPU model, the kernel, the Go toolchain
// that built the servers and the checkout's commit. ORTVersion is filled in
// from the naive server later.
func describeMachine(ctx context.Context, repo string) Machine {
	m := Machine{
		CPUs:      runtime.NumCPU(),
		CPUModel:  cpuModel("/proc/cpuinfo"),
		Kernel:    "unknown",
		GoVersion: runtime.Version(),
		Commit:    "unknown",
	}
	if out, err := exec.CommandContext(ctx, "nproc").Output(); err == nil {
		if s := strings.TrimSpace(string(out)); s != "" {
			if n, err := strconv.Atoi(s); err == nil {
				m.CPUs = n
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	} else if out, err := exec.CommandContext(ctx, "uname", "-sr").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty")
	cmd.Dir = repo
	if out, err := cmd.Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// cpuModel returns the first "model name" in a /proc/cpuinfo file.
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "unknown"
}
