package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// options are the harness's command-line settings, paths made absolute.
type options struct {
	repo         string
	quick        bool
	servers      []string
	binDir       string
	config       string
	results      string
	out          string
	goTest       bool
	warmup       time.Duration
	duration     time.Duration
	readyTimeout time.Duration
	render       bool
}

// plan returns the plan the options select.
func (o options) plan() plan {
	p := fullPlan()
	if o.quick {
		p = quickPlan()
	}
	return p.withWindow(o.warmup, o.duration)
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	var servers string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./bench/run [flags]   (from the repository root; `make bench` runs it)\n\n")
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.quick, "quick", false, "smoke run of about a minute; writes under bench/results/quick/ unless -results/-out say otherwise")
	fs.StringVar(&servers, "servers", strings.Join(allServers, ","), "comma-separated servers to run: "+strings.Join(allServers, ", "))
	fs.StringVar(&o.binDir, "bin", "bin", "directory holding the mlgate, ceiling and naive binaries")
	fs.StringVar(&o.config, "config", filepath.Join("examples", "mlgate.yaml"), "mlgate's configuration file")
	fs.StringVar(&o.results, "results", "", "results directory (default bench/results, or bench/results/quick with -quick)")
	fs.StringVar(&o.out, "out", "", "markdown file to write (default BENCHMARKS.md, or <results>/BENCHMARKS.md with -quick)")
	fs.BoolVar(&o.goTest, "gotest", true, "run go test -bench on the hot-path packages")
	fs.DurationVar(&o.warmup, "warmup", 0, "override every run's warmup")
	fs.DurationVar(&o.duration, "duration", 0, "override every run's measured window")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 2*time.Minute, "how long a server may take to answer ready")
	fs.BoolVar(&o.render, "render", false, "only rewrite the chart and markdown from <results>/suite.json")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var chosen []string
	for _, s := range strings.Split(servers, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allServers, s) {
			return o, fmt.Errorf("-servers: unknown server %q; want some of %s", s, strings.Join(allServers, ", "))
		}
		chosen = append(chosen, s)
	}
	for _, s := range allServers { // canonical order, no duplicates
		if slices.Contains(chosen, s) {
			o.servers = append(o.servers, s)
		}
	}
	if o.warmup < 0 || o.duration < 0 || o.readyTimeout <= 0 {
		return o, errors.New("-warmup and -duration must be >= 0 and -ready-timeout > 0")
	}
	root, err := repoRoot()
	if err != nil {
		return o, err
	}
	o.repo = root
	if o.results == "" {
		o.results = filepath.Join(root, "bench", "results")
		if o.quick {
			o.results = filepath.Join(o.results, "quick")
		}
	}
	if o.out == "" {
		o.out = filepath.Join(root, "BENCHMARKS.md")
		if o.quick {
			o.out = filepath.Join(o.results, "BENCHMARKS.md")
		}
	}
	for _, p := range []*string{&o.binDir, &o.config, &o.results, &o.out} {
		if *p, err = filepath.Abs(*p); err != nil {
			return o, err
		}
	}
	if err := o.plan().validate(); err != nil {
		return o, err
	}
	return o, nil
}

// repoRoot returns the nearest directory at or above the working directory
// that holds go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory: run from the mlgate repository")
		}
		dir = parent
	}
}
