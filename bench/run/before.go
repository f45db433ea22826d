package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"time"
)

// beforeConns are the connection counts of the before-and-after table.
var beforeConns = []int{1, 8, 32, 128}

// Before is what the generated section needs from an earlier suite to
// compare mlgate's ratios with it: its commit, its date and the one-row
// closed-loop throughputs of its servers.
type Before struct {
	// File is the suite's file, relative to the results directory when
	// possible.
	File    string    `json:"file"`
	Commit  string    `json:"commit"`
	Started time.Time `json:"started"`
	Quick   bool      `json:"quick,omitempty"`
	// MlgateCommand is the command line mlgate ran with in that suite.
	MlgateCommand string `json:"mlgate_command,omitempty"`
	// Throughput is the one-row closed-loop 2xx throughput by server and
	// connection count, for the counts of beforeConns the suite ran.
	Throughput []BeforeThroughput `json:"throughput"`
}

// BeforeThroughput is one server's throughput at one connection count.
type BeforeThroughput struct {
	Server      string  `json:"server"`
	Connections int     `json:"connections"`
	Throughput  float64 `json:"ok_rps"`
}

// loadBefore reads the suite.json at path and keeps what the comparison
// needs, recording path relative to the results directory.
func loadBefore(path, results string) (*Before, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-before: %w", err)
	}
	var s Suite
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("-before %s: %w", path, err)
	}
	if s.Started.IsZero() || len(s.Runs) == 0 {
		return nil, fmt.Errorf("-before %s: not a suite.json of the benchmark harness (no start time or no runs)", path)
	}
	file := path
	if rel, err := filepath.Rel(results, path); err == nil {
		file = filepath.ToSlash(rel)
	}
	out := &Before{File: file, Commit: s.Machine.Commit, Started: s.Started, Quick: s.Quick}
	for _, sv := range s.Servers {
		if sv.Name == serverMlgate {
			out.MlgateCommand = sv.Command
		}
	}
	for _, c := range beforeConns {
		for _, name := range allServers {
			if r := s.closedRun(name, c, 1); r != nil {
				out.Throughput = append(out.Throughput, BeforeThroughput{Server: name, Connections: c, Throughput: r.Summary.Throughput})
			}
		}
	}
	return out, nil
}

// throughput returns server's throughput at conns connections, NaN when
// the earlier suite did not measure it.
func (b *Before) throughput(server string, conns int) float64 {
	for _, t := range b.Throughput {
		if t.Server == server && t.Connections == conns {
			return t.Throughput
		}
	}
	return math.NaN()
}

// beforeAfter writes the before-and-after table: mlgate / ceiling and
// mlgate / naive throughput at beforeConns, in the earlier suite and in
// this one.
func (r *renderer) beforeAfter() {
	s, b := r.s, r.s.Before
	if b == nil {
		return
	}
	r.p("### Before and after: mlgate's ratios at commit %s and now\n\n", b.Commit)
	before := fmt.Sprintf("`%s`, %s", b.Commit, b.Started.UTC().Format("2006-01-02 15:04 UTC"))
	after := fmt.Sprintf("`%s`, %s", s.Machine.Commit, s.Started.UTC().Format("2006-01-02 15:04 UTC"))
	file := "`" + b.File + "`"
	if !path.IsAbs(b.File) {
		file = fmt.Sprintf("[%s](%s)", path.Base(b.File), r.link(b.File))
	}
	r.p("One row per request, closed loop. **Before** is %s (%s), the suite of an earlier\n", file, before)
	r.p("commit; **after** is this run (%s).\n\n", after)
	r.p("| connections | mlgate / ceiling, before | mlgate / ceiling, after | mlgate / naive, before | mlgate / naive, after |\n|---:|---:|---:|---:|---:|\n")
	for _, c := range beforeConns {
		mg, ce, nv := s.closedRun(serverMlgate, c, 1), s.closedRun(serverCeiling, c, 1), s.closedRun(serverNaive, c, 1)
		r.p("| %d | %s | %s | %s | %s |\n", c,
			fmtRatio(ratio(b.throughput(serverMlgate, c), b.throughput(serverCeiling, c))), fmtRatio(ratio(throughput(mg), throughput(ce))),
			fmtRatio(ratio(b.throughput(serverMlgate, c), b.throughput(serverNaive, c))), fmtRatio(ratio(throughput(mg), throughput(nv))))
	}
	r.p("\nThe two columns of each pair come from different runs on a shared machine, so part of any\n")
	r.p("difference is the machine's: ratios taken within one run travel better than absolute numbers,\n")
	r.p("but not perfectly.")
	if b.MlgateCommand != "" {
		r.p(" mlgate ran as `%s` then.", b.MlgateCommand)
	}
	r.p("\n")
	if b.Quick {
		r.p("The earlier run was a `-quick` smoke run: its numbers are not representative.\n")
	}
	r.p("\n")
}
