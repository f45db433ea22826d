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

	"github.com/mlgate/mlgate/internal/testutil"
)

// options are the harness's command-line settings, paths made absolute.
type options struct {
	repo    string
	quick   bool
	servers []string
	clients []string
	phases  []string
	binDir  string
	// wrk is the wrk binary, looked up in $PATH when the run starts.
	wrk string
	// baselineBin is a second mlgate binary the headline rounds run next
	// to bin/mlgate; "" for none. lever, when set, names the change the
	// two binaries differ by, whose result goes to levers.json.
	baselineBin string
	lever       string
	// roundsOnly limits the headline phase to its interleaved rounds, as
	// a -lever run needs.
	roundsOnly bool
	// statusPage adds serverStatus to the headline rounds.
	statusPage bool
	// pgo is the file the pgo phase writes its merged profile to; "" when
	// the phase does not run.
	pgo    string
	rounds int
	// before is the earlier suite.json to compare with; "" for none.
	before       string
	results      string
	out          string
	goTest       bool
	warmup       time.Duration
	duration     time.Duration
	readyTimeout time.Duration
	render       bool
}

// extraMlgates counts the mlgate processes the headline rounds run besides
// bin/mlgate: the baseline, and the one with the status page open.
func (o options) extraMlgates() int {
	n := 0
	if o.baselineBin != "" {
		n++
	}
	if o.statusPage {
		n++
	}
	return n
}

// plan returns the plan the options select.
func (o options) plan() plan {
	p := fullPlan()
	if o.quick {
		p = quickPlan()
	}
	p = p.withWindow(o.warmup, o.duration).withRounds(o.rounds)
	if o.roundsOnly {
		p = p.roundsOnly()
	}
	return p
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	var servers, clients, phases, before string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./bench/run [flags]   (from the repository root; `make bench` runs it)\n\n")
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.quick, "quick", false, "smoke run of every phase with short windows; writes under bench/results/quick/ unless -results/-out say otherwise")
	fs.StringVar(&servers, "servers", strings.Join(allServers, ","), "comma-separated servers to run in the headline phase: "+strings.Join(allServers, ", ")+
		" (the batching and threads phases run only with mlgate)")
	fs.StringVar(&clients, "clients", strings.Join(allClients, ","), "comma-separated load generators of the headline rounds: "+strings.Join(allClients, ", "))
	fs.StringVar(&phases, "phases", strings.Join(defaultPhases, ","), "comma-separated phases to run: "+strings.Join(allPhases, ", ")+
		" (pgo runs only with -pgo, which adds it)")
	fs.StringVar(&o.binDir, "bin", "bin", "directory holding the mlgate, ceiling and naive binaries")
	fs.StringVar(&o.wrk, "wrk", "wrk", "the wrk binary (the apt package wrk), looked up in $PATH unless a path")
	fs.StringVar(&o.baselineBin, "baseline-bin", "", "a second mlgate binary to run in the headline rounds next to bin/mlgate, for a before and after in the same run")
	fs.StringVar(&o.lever, "lever", "", "with -baseline-bin: the change the two binaries differ by, one of "+strings.Join(leverKeys(), ", ")+
		"; the result is recorded in <results>/levers.json")
	fs.BoolVar(&o.roundsOnly, "rounds-only", false, "run only the interleaved rounds of the headline phase (no connection sweep, batch sizes, protocols or open loop): enough for a -lever before and after")
	fs.BoolVar(&o.statusPage, "status-page", false, "also run mlgate in the headline rounds with its status page open (a poller reading /admin/status every "+
		statusPollInterval.String()+", as the page does), to measure what an open page costs")
	fs.StringVar(&o.pgo, "pgo", "", "write a merged CPU profile of mlgate under load to this file (for PGO: cmd/mlgate/default.pgo); adds the pgo phase")
	fs.IntVar(&o.rounds, "rounds", 0, "override the number of interleaved rounds (six give benchstat a 95% confidence interval)")
	fs.StringVar(&before, "before", "", "an earlier suite.json to compare mlgate's ratios with, or \"none\" (default "+defaultBefore+" when it exists)")
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
	var err error
	if o.servers, err = parseList("-servers", servers, allServers); err != nil {
		return o, err
	}
	if o.clients, err = parseList("-clients", clients, allClients); err != nil {
		return o, err
	}
	if o.phases, err = parseList("-phases", phases, allPhases); err != nil {
		return o, err
	}
	switch {
	case o.pgo != "" && !slices.Contains(o.phases, phasePGO):
		o.phases, _ = parseList("-phases", strings.Join(append(o.phases, phasePGO), ","), allPhases)
	case o.pgo == "" && slices.Contains(o.phases, phasePGO):
		return o, errors.New("-phases pgo needs -pgo FILE, the profile to write")
	}
	if o.warmup < 0 || o.duration < 0 || o.readyTimeout <= 0 || o.rounds < 0 {
		return o, errors.New("-warmup, -duration and -rounds must be >= 0 and -ready-timeout > 0")
	}
	if o.statusPage && !slices.Contains(o.servers, serverMlgate) {
		return o, errors.New("-status-page needs mlgate among -servers")
	}
	if o.baselineBin != "" {
		if _, err := os.Stat(o.baselineBin); err != nil {
			return o, fmt.Errorf("-baseline-bin: %w", err)
		}
		if !slices.Contains(o.servers, serverMlgate) {
			return o, errors.New("-baseline-bin needs mlgate among -servers")
		}
	}
	if o.lever != "" {
		if o.baselineBin == "" {
			return o, errors.New("-lever needs -baseline-bin, the binary without the change")
		}
		if leverTitle(o.lever) == "" {
			return o, fmt.Errorf("-lever: unknown lever %q; want one of %s", o.lever, strings.Join(leverKeys(), ", "))
		}
	}
	root, err := testutil.FindRepoRoot()
	if err != nil {
		return o, err
	}
	o.repo = root
	switch before {
	case "none":
	case "":
		if _, err := os.Stat(filepath.Join(root, defaultBefore)); err == nil {
			o.before = filepath.Join(root, defaultBefore)
		}
	default:
		if _, err := os.Stat(before); err != nil {
			return o, fmt.Errorf("-before: %w", err)
		}
		o.before = before
	}
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
	for _, p := range []*string{&o.binDir, &o.results, &o.out, &o.baselineBin, &o.pgo} {
		if *p == "" {
			continue
		}
		if *p, err = filepath.Abs(*p); err != nil {
			return o, err
		}
	}
	if o.before != "" {
		if o.before, err = filepath.Abs(o.before); err != nil {
			return o, err
		}
	}
	if err := o.plan().validate(); err != nil {
		return o, err
	}
	return o, nil
}

// defaultBefore is the suite the generated section compares with when
// -before is not given, relative to the repository root: the harness's
// first recorded run, at commit b470bf8.
var defaultBefore = filepath.Join("bench", "results", "before-b470bf8.json")

// parseList parses a comma-separated subset of known and returns it in
// known's order, without duplicates.
func parseList(flagName, list string, known []string) ([]string, error) {
	var chosen []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(known, s) {
			return nil, fmt.Errorf("%s: unknown name %q; want some of %s", flagName, s, strings.Join(known, ", "))
		}
		chosen = append(chosen, s)
	}
	var out []string
	for _, s := range known {
		if slices.Contains(chosen, s) {
			out = append(out, s)
		}
	}
	return out, nil
}
