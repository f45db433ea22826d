package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Profile is a CPU profile of a server taken during its closed-loop run at
// the headline connection count, and what go tool pprof makes of it.
type Profile struct {
	Server string `json:"server"`
	// Run is the ID of the run it was taken during.
	Run string `json:"run"`
	// File is the profile, relative to the results directory; Listing is
	// go tool pprof's full -top listing of it, also relative.
	File    string `json:"file"`
	Listing string `json:"listing,omitempty"`
	// Seconds is the profile's length.
	Seconds int `json:"seconds"`
	// Samples is the CPU time sampled, in seconds.
	Samples float64 `json:"samples_s"`
	// Top and TopCum are the ten functions with the most flat and
	// cumulative time.
	Top    []ProfileRow `json:"top,omitempty"`
	TopCum []ProfileRow `json:"top_cum,omitempty"`
	// Categories split the flat time by profileCategories, in their order.
	Categories []CategoryTime `json:"categories,omitempty"`
	// Error says why there is no profile or no analysis; empty on success.
	Error string `json:"error,omitempty"`
}

// ProfileRow is one line of go tool pprof -top. Times are in seconds,
// shares in percent of the profile's samples.
type ProfileRow struct {
	Flat     float64 `json:"flat_s"`
	FlatPct  float64 `json:"flat_pct"`
	Cum      float64 `json:"cum_s"`
	CumPct   float64 `json:"cum_pct"`
	Function string  `json:"function"`
}

// CategoryTime is the flat time of one category of functions.
type CategoryTime struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	// Share is Seconds as a fraction of the profile's samples.
	Share float64 `json:"share"`
}

// profileCategory groups functions by name. A function belongs to the first
// category that matches it; "other" takes the rest.
type profileCategory struct {
	name string
	// what says which functions the category holds, for BENCHMARKS.md.
	what     string
	prefixes []string
	contains []string
}

// profileCategories are the categories the profiles are split into.
var profileCategories = []profileCategory{
	{name: "syscalls", what: "`internal/runtime/syscall`, `syscall.`",
		prefixes: []string{"internal/runtime/syscall", "syscall."}},
	{name: "cgo / ONNX Runtime", what: "`runtime.cgocall`, `runtime.asmcgocall`, `runtime._ExternalCode`, `onnxruntime_go`, `onnxruntime::`",
		prefixes: []string{"runtime.cgocall", "runtime.asmcgocall", "runtime._ExternalCode", "_cgo_", "_Cfunc_"},
		contains: []string{"onnxruntime_go", "onnxruntime::"}},
	{name: "request decoding", what: "`mlgate/signature` (which also writes the response JSON), `fastjson`",
		contains: []string{"mlgate/signature", "fastjson"}},
	{name: "HTTP", what: "`fasthttp`",
		contains: []string{"fasthttp"}},
	{name: "Go scheduler / runtime", what: "other `runtime.` and `internal/runtime/`",
		prefixes: []string{"runtime.", "internal/runtime/"}},
	{name: categoryOther, what: "everything else: mlgate's serve and infer code, bufio, sync, time, ..."},
}

const categoryOther = "other"

// categorize returns the name of the category fn belongs to.
func categorize(fn string) string {
	for _, c := range profileCategories {
		for _, p := range c.prefixes {
			if strings.HasPrefix(fn, p) {
				return c.name
			}
		}
		for _, s := range c.contains {
			if strings.Contains(fn, s) {
				return c.name
			}
		}
	}
	return categoryOther
}

// categoryTimes sums the rows' flat time by category. Time the rows do not
// account for (nodes pprof dropped) counts as other.
func categoryTimes(total float64, rows []ProfileRow) []CategoryTime {
	sums := map[string]float64{}
	var seen float64
	for _, r := range rows {
		sums[categorize(r.Function)] += r.Flat
		seen += r.Flat
	}
	if total > seen {
		sums[categoryOther] += total - seen
	}
	out := make([]CategoryTime, len(profileCategories))
	for i, c := range profileCategories {
		out[i] = CategoryTime{Name: c.name, Seconds: sums[c.name]}
		if total > 0 {
			out[i].Share = sums[c.name] / total
		}
	}
	return out
}

// errNoSamples reports a profile without samples.
var errNoSamples = errors.New("no samples")

// parsePprofTop reads the output of go tool pprof -top: the total sampled
// time from its "Total samples" line and its rows in order.
func parsePprofTop(out []byte) (total float64, rows []ProfileRow, err error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	inRows := false
	foundTotal := false
	for sc.Scan() {
		line := sc.Text()
		if !inRows {
			if _, after, ok := strings.Cut(line, "Total samples = "); ok {
				v, _, _ := strings.Cut(after, " ")
				d, err := time.ParseDuration(v)
				if err != nil {
					return 0, nil, fmt.Errorf("pprof -top: total samples %q: %w", v, err)
				}
				total, foundTotal = d.Seconds(), true
			}
			f := strings.Fields(line)
			inRows = len(f) == 5 && f[0] == "flat" && f[1] == "flat%" && f[4] == "cum%"
			continue
		}
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		var r ProfileRow
		var errs [4]error
		r.Flat, errs[0] = parseSeconds(f[0])
		r.FlatPct, errs[1] = parsePercent(f[1])
		r.Cum, errs[2] = parseSeconds(f[3])
		r.CumPct, errs[3] = parsePercent(f[4])
		if err := errors.Join(errs[:]...); err != nil {
			return 0, nil, fmt.Errorf("pprof -top: line %q: %w", line, err)
		}
		r.Function = strings.TrimSuffix(strings.Join(f[5:], " "), " (inline)")
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		return 0, nil, err
	}
	if !foundTotal {
		return 0, nil, fmt.Errorf("pprof -top: no \"Total samples\" line")
	}
	if total == 0 {
		return 0, nil, errNoSamples
	}
	return total, rows, nil
}

func parseSeconds(s string) (float64, error) {
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	return d.Seconds(), err
}

func parsePercent(s string) (float64, error) {
	return strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
}

// profileFile is the name of server's CPU profile in the results
// directory.
func profileFile(server string) string { return "cpu-" + server + ".prof" }

// takeProfile waits until the middle of run's measured window, asks the
// server at base for a CPU profile of the plan's profile length and saves
// it as file in the results directory. Failures are recorded in the
// result: a missing profile must not cost the load test numbers.
func (h *harness) takeProfile(ctx context.Context, run RunResult, base, file string) Profile {
	pr := Profile{Server: run.Server, Run: run.ID, File: file, Seconds: h.plan.profileSeconds()}
	if err := sleepCtx(ctx, h.plan.profileDelay()); err != nil {
		pr.Error = err.Error()
		return pr
	}
	if err := fetchProfile(ctx, base, pr.Seconds, filepath.Join(h.opts.results, file)); err != nil {
		pr.Error = err.Error()
		h.logf("         warning: %s: %v", run.Server, err)
	}
	return pr
}

// fetchProfile saves GET /debug/pprof/profile?seconds=N of the server at
// base to path.
func fetchProfile(ctx context.Context, base string, seconds int, path string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds+30)*time.Second)
	defer cancel()
	url := base + "/debug/pprof/profile?seconds=" + strconv.Itoa(seconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpu profile: GET /debug/pprof/profile: status %d: %.200s", resp.StatusCode, b)
	}
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		return fmt.Errorf("cpu profile: GET /debug/pprof/profile: not a gzipped profile: %.100q", b)
	}
	return os.WriteFile(path, b, 0o644)
}

// analyseProfiles runs go tool pprof on each saved profile, with the
// server's binary, once the servers have stopped.
func (h *harness) analyseProfiles(ctx context.Context) {
	for i := range h.suite.Profiles {
		pr := &h.suite.Profiles[i]
		if pr.Error != "" {
			continue
		}
		if err := h.analyseProfile(ctx, pr); err != nil {
			pr.Error = err.Error()
			h.logf("warning: %s's profile: %v", pr.Server, err)
		}
	}
}

func (h *harness) analyseProfile(ctx context.Context, pr *Profile) error {
	bin := filepath.Join(h.opts.binDir, pr.Server)
	file := filepath.Join(h.opts.results, pr.File)
	full, err := pprofTop(ctx, h.opts.repo, "-top", "-nodefraction=0", "-nodecount=0", bin, file)
	if err != nil {
		return err
	}
	pr.Listing = strings.TrimSuffix(pr.File, ".prof") + ".top.txt"
	if err := os.WriteFile(filepath.Join(h.opts.results, pr.Listing), full, 0o644); err != nil {
		return err
	}
	total, rows, err := parsePprofTop(full)
	if err != nil {
		return err
	}
	pr.Samples = total
	pr.Categories = categoryTimes(total, rows)
	pr.Top = rows[:min(10, len(rows))]
	cum, err := pprofTop(ctx, h.opts.repo, "-top", "-cum", "-nodecount=10", bin, file)
	if err != nil {
		return err
	}
	if _, pr.TopCum, err = parsePprofTop(cum); err != nil {
		return err
	}
	return nil
}

// pprofTop runs go tool pprof with args from dir and returns its output.
func pprofTop(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof %s: %w: %s", strings.Join(args, " "), err, firstLine(stderr.Bytes()))
	}
	return out, nil
}
