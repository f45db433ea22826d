package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// A lever is one change made to close the gap to the HTTP ceiling. Its
// before and after come from one run: -baseline-bin names the mlgate
// binary without the change, which the headline rounds run next to
// bin/mlgate (with it), and -lever names the change, so that the result is
// kept in the results directory's levers.json and shown in every later
// BENCHMARKS.md.

// levers are the changes the table has a row for, in order. A lever with
// a note was not measured as a before and after: the note says why.
var levers = []struct{ key, title, note string }{
	{"body-once", "Read the body once: decoding reuses the measuring pass (dd773ab)", ""},
	{"inline-idle", "Run on the request goroutine when a worker is idle", "in place before this issue (fcc18d8, 2026-11-22), with no binary without it; `--batching busy` against `off` below measures what gathering costs"},
	{"telemetry", "Per-request instruments as atomic counters, exported as a producer (18b22bf)", ""},
	{"telemetry-duration", "`http.server.request.duration` kept with atomic counts (bb8c5e3)", ""},
	{"provenance-block", "Pre-rendered provenance header block", "in place before this issue (77ac2f7, 2026-11-22): each deployment's headers are rendered when its Snapshot is compiled"},
	{"deadline-clock", "Request deadline from fasthttp's clock reading (d29dab9)", ""},
	{"small-body", "Bodies of at most 64 KiB within the header timeout, without a deadline of their own (06ac400)", ""},
	{"media-type", "`application/json` taken as sent, without parsing the media type (3518afa)", ""},
	{"pgo", "PGO (cmd/mlgate/default.pgo)", ""},
}

// leverKeys are the names -lever accepts.
func leverKeys() []string {
	out := make([]string, len(levers))
	for i, l := range levers {
		out[i] = l.key
	}
	return out
}

// leverNote is why key has no before and after, "" when it should have.
func leverNote(key string) string {
	for _, l := range levers {
		if l.key == key {
			return l.note
		}
	}
	return ""
}

// leverTitle is the table's name for key, "" for an unknown key.
func leverTitle(key string) string {
	for _, l := range levers {
		if l.key == key {
			return l.title
		}
	}
	return ""
}

// leversFile holds every lever's latest result in the results directory.
const leversFile = "levers.json"

// BaselineInfo describes the -baseline-bin mlgate of a run.
type BaselineInfo struct {
	// Command is its command line as BENCHMARKS.md shows it.
	Command string `json:"command"`
	// Version is what `<binary> version` printed.
	Version string `json:"version"`
	// Lever names the change it lacks; "" when -lever was not given.
	Lever string `json:"lever,omitempty"`
	// After is what `bin/mlgate version` printed: the binary with the
	// change, which -bin may have taken from another checkout.
	After string `json:"after,omitempty"`
}

// LeverResult is one lever's before (the baseline binary) and after
// (bin/mlgate) in the headline rounds of one run.
type LeverResult struct {
	Lever   string    `json:"lever"`
	Started time.Time `json:"started"`
	Quick   bool      `json:"quick,omitempty"`
	// Commit is the checkout the harness ran from; After the version of
	// bin/mlgate (with the change) and Baseline the baseline binary's.
	Commit   string        `json:"commit"`
	After    string        `json:"after,omitempty"`
	Baseline string        `json:"baseline"`
	Clients  []LeverClient `json:"clients"`
}

// LeverClient is a lever's effect measured with one load generator:
// median throughput and server CPU per request before and after, and the
// per-round ratios after / before.
type LeverClient struct {
	Client    string   `json:"client"`
	Before    float64  `json:"before_rps"`
	After     float64  `json:"after_rps"`
	Change    Estimate `json:"change"`
	CPUBefore float64  `json:"cpu_before_us"`
	CPUAfter  float64  `json:"cpu_after_us"`
	CPUChange Estimate `json:"cpu_change"`
}

// loadLevers reads levers.json; a missing file holds no results.
func loadLevers(path string) ([]LeverResult, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []LeverResult
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// saveLevers writes levers.json.
func saveLevers(path string, results []LeverResult) error {
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// withLever returns results with r replacing the earlier result of the
// same lever, in the levers' order.
func withLever(results []LeverResult, r LeverResult) []LeverResult {
	out := slices.DeleteFunc(slices.Clone(results), func(x LeverResult) bool { return x.Lever == r.Lever })
	out = append(out, r)
	order := func(key string) int {
		if i := slices.Index(leverKeys(), key); i >= 0 {
			return i
		}
		return len(levers)
	}
	slices.SortStableFunc(out, func(a, b LeverResult) int { return order(a.Lever) - order(b.Lever) })
	return out
}

// leverResult is this run's before (the baseline) and after (mlgate) from
// the headline rounds; nil when the baseline did not run.
func (s *Suite) leverResult(lever string) *LeverResult {
	if s.Baseline == nil {
		return nil
	}
	r := &LeverResult{Lever: lever, Started: s.Started, Quick: s.Quick, Commit: s.Machine.Commit,
		After: s.Baseline.After, Baseline: s.Baseline.Version}
	for _, c := range allClients {
		before, after := s.headlineRun(c, serverBaseline), s.headlineRun(c, serverMlgate)
		if before == nil || after == nil {
			continue
		}
		r.Clients = append(r.Clients, LeverClient{
			Client:    c,
			Before:    before.Summary.Throughput,
			After:     after.Summary.Throughput,
			Change:    s.roundRatio(c, serverMlgate, serverBaseline, throughput),
			CPUBefore: before.CPUMicrosPerRequest,
			CPUAfter:  after.CPUMicrosPerRequest,
			CPUChange: s.roundRatio(c, serverMlgate, serverBaseline, cpu),
		})
	}
	if len(r.Clients) == 0 {
		return nil
	}
	return r
}

// binaryVersion runs `bin version` and returns its first line.
func binaryVersion(ctx context.Context, bin string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return firstLine(bytes.TrimSpace(out))
}

// leverTable writes the before-and-after table, one row per lever, from
// s.Levers.
func (r *renderer) leverTable() {
	s := r.s
	r.p("### Before and after, per lever\n\n")
	r.p("Each row compares two mlgate binaries in the same run: the one without the change\n")
	r.p("(`-baseline-bin`, before) and the one with it (after; `-bin`'s mlgate), interleaved in the headline\n")
	r.p("rounds (%d connections, one row per request). For a change that is one commit, after is that commit\n", s.Plan.HeadlineConns)
	r.p("and before its parent, each built from its own checkout, so the pair differs by that change alone.\n")
	r.p("The change is the median of the per-round ratios after / before with its 95%% confidence interval;\n")
	r.p("an interval that spans 0 means the run could not tell the two apart. `./scripts/bench.sh\n")
	r.p("-rounds-only -servers mlgate -baseline-bin OLD -lever NAME` fills a row, which is kept in `%s`\n", leversFile)
	r.p("(`-render` redraws this page from it); `./scripts/bench-lever.sh LEVER COMMIT` builds the pair and runs it.\n\n")
	r.p("| lever | measured | req/s before → after (loadtest) | change | req/s before → after (wrk) | change | server CPU per request before → after (loadtest) | change |\n")
	r.p("|---|---|---:|---:|---:|---:|---:|---:|\n")
	keys := leverKeys()
	for _, l := range s.Levers {
		if !slices.Contains(keys, l.Lever) {
			keys = append(keys, l.Lever)
		}
	}
	for _, key := range keys {
		title := cmp.Or(leverTitle(key), key)
		i := slices.IndexFunc(s.Levers, func(x LeverResult) bool { return x.Lever == key })
		if i < 0 {
			r.p("| %s | %s | | | | | | |\n", title, cmp.Or(leverNote(key), "not measured yet"))
			continue
		}
		l := s.Levers[i]
		after := "`" + l.Commit + "`"
		if l.After != "" {
			after = mdCell(l.After)
		}
		when := fmt.Sprintf("%s, %s vs %s", l.Started.UTC().Format("2006-01-02"), after, mdCell(l.Baseline))
		if l.Quick {
			when += " (smoke run)"
		}
		cell := func(client string) (string, string) {
			for _, c := range l.Clients {
				if c.Client == client {
					return fmt.Sprintf("%s → %s", fmtRate(c.Before), fmtRate(c.After)), fmtChange(c.Change)
				}
			}
			return "n/a", "n/a"
		}
		lt, ltChange := cell(clientLoadtest)
		wk, wkChange := cell(clientWrk)
		cpuCell, cpuChange := "n/a", "n/a"
		for _, c := range l.Clients {
			if c.Client == clientLoadtest {
				cpuCell = fmt.Sprintf("%s → %s", fmtCPU(c.CPUBefore), fmtCPU(c.CPUAfter))
				cpuChange = fmtChange(c.CPUChange)
			}
		}
		r.p("| %s | %s | %s | %s | %s | %s | %s | %s |\n", title, when, lt, ltChange, wk, wkChange, cpuCell, cpuChange)
	}
	r.p("\n")
}

// fmtChange writes a ratio after / before as a change: "+12.3% (+8.1 to
// +15.0%)".
func fmtChange(e Estimate) string {
	if !e.known() {
		return "n/a"
	}
	pct := func(v float64) string { return fmt.Sprintf("%+.1f%%", (v-1)*100) }
	if !e.hasCI() {
		return pct(e.Median)
	}
	return fmt.Sprintf("%s (%s to %s)", pct(e.Median), strings.TrimSuffix(pct(e.Lo), "%"), pct(e.Hi))
}
