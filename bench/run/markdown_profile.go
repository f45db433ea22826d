package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// run returns the run with id, or nil.
func (s *Suite) run(id string) *RunResult {
	for i := range s.Runs {
		if s.Runs[i].ID == id {
			return &s.Runs[i]
		}
	}
	return nil
}

// profile returns server's profile, or nil.
func (s *Suite) profile(server string) *Profile {
	for i := range s.Profiles {
		if s.Profiles[i].Server == server {
			return &s.Profiles[i]
		}
	}
	return nil
}

// perRequest returns a category's CPU time per request in microseconds:
// its time over the requests the profile's run answered in the profile's
// length at the run's throughput. NaN when unknown.
func (s *Suite) perRequest(pr *Profile, seconds float64) float64 {
	if pr == nil || pr.Seconds <= 0 {
		return math.NaN()
	}
	run := s.run(pr.Run)
	if run == nil || !(run.Summary.Throughput > 0) {
		return math.NaN()
	}
	return seconds * 1e6 / (run.Summary.Throughput * float64(pr.Seconds))
}

func (r *renderer) profiles() {
	s := r.s
	if len(s.Profiles) == 0 {
		return
	}
	r.p("### Where the CPU goes: profiles at saturation\n\n")
	r.p("During the ceiling's and mlgate's last headline round with loadtest (%d connections, one row per\n", s.Plan.HeadlineConns)
	r.p("request), the harness fetched `GET /debug/pprof/profile?seconds=%d` from each, in the middle of the\n", s.Plan.ProfileSeconds)
	r.p("measured window, and ran `go tool pprof -top` on it with the server's binary. Both servers were\n")
	r.p("sampled alike (a 100 Hz signal) during that round only. The profile sees only Go's view: time\n")
	r.p("inside ONNX Runtime shows as `runtime.cgocall`.\n\n")
	for _, pr := range s.Profiles {
		if pr.Error != "" {
			r.p("- %s: no profile: %s\n", pr.Server, mdCell(pr.Error))
		}
	}
	var ok []*Profile
	for i := range s.Profiles {
		if s.Profiles[i].Error == "" && len(s.Profiles[i].Categories) > 0 {
			ok = append(ok, &s.Profiles[i])
		}
	}
	if len(ok) == 0 {
		r.p("\n")
		return
	}
	r.p("Flat time by category; a function counts in the first category its name matches. Per request\n")
	r.p("is the category's time over the requests answered during the profile at the run's throughput.\n\n")
	r.p("| category | functions |")
	for _, pr := range ok {
		r.p(" %s share | %s per request |", pr.Server, pr.Server)
	}
	r.p("\n|---|---|")
	for range ok {
		r.p("---:|---:|")
	}
	r.p("\n")
	for i, c := range profileCategories {
		r.p("| %s | %s |", c.name, c.what)
		for _, pr := range ok {
			ct := pr.Categories[i]
			r.p(" %s | %s |", fmtShareF(ct.Share), fmtPerRequest(s.perRequest(pr, ct.Seconds)))
		}
		r.p("\n")
	}
	r.p("| total | |")
	for _, pr := range ok {
		r.p(" %.2f s in %d s | %s |", pr.Samples, pr.Seconds, fmtPerRequest(s.perRequest(pr, pr.Samples)))
	}
	r.p("\n\n")
	for _, pr := range ok {
		r.p("- %s\n", profileSentence(pr))
	}
	if ce, mg := s.profile(serverCeiling), s.profile(serverMlgate); ce != nil && mg != nil && ce.Error == "" && mg.Error == "" {
		r.p("- %s\n", s.profileDifference(ce, mg))
	}
	r.p("\n")
	for _, pr := range ok {
		r.topTable(pr, "flat", pr.Top, fmt.Sprintf("go tool pprof -top -nodecount=10 bin/%s %s", pr.Server, r.link(pr.File)))
		r.topTable(pr, "cumulative", pr.TopCum, fmt.Sprintf("go tool pprof -top -cum -nodecount=10 bin/%s %s", pr.Server, r.link(pr.File)))
	}
}

// profileSentence attributes a profile's samples to the categories.
func profileSentence(pr *Profile) string {
	var parts []string
	for _, c := range pr.Categories {
		parts = append(parts, fmt.Sprintf("%s %s", fmtShareF(c.Share), c.Name))
	}
	return fmt.Sprintf("%s: %.2f s of samples in %d s (%.2f CPUs busy): %s.", pr.Server, pr.Samples, pr.Seconds,
		pr.Samples/float64(max(1, pr.Seconds)), strings.Join(parts, ", "))
}

// profileDifference says what mlgate adds to the ceiling per request, by
// category, largest first.
func (s *Suite) profileDifference(ce, mg *Profile) string {
	type diff struct {
		name string
		us   float64
	}
	var diffs []diff
	for i, c := range profileCategories {
		d := s.perRequest(mg, mg.Categories[i].Seconds) - s.perRequest(ce, ce.Categories[i].Seconds)
		if !math.IsNaN(d) {
			diffs = append(diffs, diff{c.name, d})
		}
	}
	total := s.perRequest(mg, mg.Samples) - s.perRequest(ce, ce.Samples)
	if len(diffs) == 0 || math.IsNaN(total) {
		return "mlgate against the ceiling: n/a (no throughput for a profiled run)."
	}
	slices.SortStableFunc(diffs, func(a, b diff) int { return cmp.Compare(b.us, a.us) })
	var parts []string
	for _, d := range diffs {
		parts = append(parts, fmtSignedMicros(d.us)+" "+d.name)
	}
	return fmt.Sprintf("mlgate against the ceiling, CPU per request: %s in all (%s). That difference is what mlgate's work adds to the HTTP ceiling.",
		fmtSignedMicros(total), strings.Join(parts, ", "))
}

// topTable writes one of a profile's top-10 tables.
func (r *renderer) topTable(pr *Profile, by string, rows []ProfileRow, cmd string) {
	if len(rows) == 0 {
		return
	}
	r.p("%s, top 10 by %s time (`%s`):\n\n", pr.Server, by, cmd)
	r.p("| flat | flat%% | cum | cum%% | function |\n|---:|---:|---:|---:|---|\n")
	for _, row := range rows {
		r.p("| %s | %.1f%% | %s | %.1f%% | `%s` |\n", fmtSeconds(row.Flat), row.FlatPct, fmtSeconds(row.Cum), row.CumPct, mdCell(row.Function))
	}
	r.p("\n")
}

// fmtPerRequest writes a CPU time per request in microseconds: "0 µs"
// for none, "n/a" when unknown.
func fmtPerRequest(us float64) string {
	if us == 0 {
		return "0 µs"
	}
	return fmtCPU(us)
}

// fmtSignedMicros writes a difference in microseconds with its sign, to a
// tenth: "+2.4 µs", "-1.0 µs", "±0.0 µs".
func fmtSignedMicros(us float64) string {
	if math.Abs(us) < 0.05 {
		return "±0.0 µs"
	}
	return fmt.Sprintf("%+.1f µs", us)
}

// fmtSeconds writes a profile time: "1.26 s", "70 ms".
func fmtSeconds(v float64) string {
	if v >= 1 {
		return fmt.Sprintf("%.2f s", v)
	}
	return fmt.Sprintf("%.0f ms", v*1e3)
}

// fmtShareF writes a fraction as a percentage with one decimal: "41.6%".
func fmtShareF(f float64) string {
	if math.IsNaN(f) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", f*100)
}
