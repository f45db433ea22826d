package loadtest

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteText writes the human-readable report. Every line starts with an
// upper-case letter or with spaces, so that the text can share a file with
// benchstat lines without being mistaken for configuration lines.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	c := &r.Config

	if c.Mode == "open" {
		p("Load test: open loop at %s req/s, at most %d in flight\n", fmtFloat(c.Rate), c.MaxInFlight)
	} else {
		p("Load test: closed loop, %s\n", plural(c.Connections, "connection"))
	}
	p("Endpoint: POST %s (%s, %d distinct bodies, first %d B)\n", c.Endpoint, c.ContentType, c.Bodies, c.BodyBytes)
	p("Window: %s after %s warmup; started %s, elapsed %.3fs\n", windowText(c), c.Warmup,
		r.Start.Format("2006-01-02 15:04:05 UTC"), r.ElapsedSeconds)
	if r.Interrupted {
		p("Interrupted: the report covers the run until it was stopped.\n")
	}
	p("\n")

	q := r.Requests
	tw := tabwriter.NewWriter(bw, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "Requests\tscheduled\tsent\tresponses\tok\thttp errors\ttransport errors\tunsent\tlate\twarmup\n")
	fmt.Fprintf(tw, "  \t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\n", q.Scheduled, q.Sent, q.Responses, q.OK,
		q.HTTPErrors, q.TransportErrors, q.Unsent, lateText(r), q.Warmup)
	tw.Flush()
	p("Throughput: %.2f req/s total, %.2f req/s ok (%s opened)\n\n",
		r.Throughput.Total, r.Throughput.OK, plural(int(q.Dials), "connection"))

	if c.Mode == "open" {
		p("Latency, from each request's intended send time:\n")
	} else {
		p("Latency, from each request's send time:\n")
	}
	// The label column is left-aligned by tabwriter; the numbers are padded
	// to a fixed width so that they line up on the right.
	tw = tabwriter.NewWriter(bw, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "  TARGET\t%9s %8s %9s %9s %9s %9s %9s %9s %9s\n",
		"RESPONSES", "SHARE", "MIN", "MEAN", "P50", "P90", "P99", "P99.9", "MAX")
	latRow := func(name string, n int64, share float64, l Latency) {
		fmt.Fprintf(tw, "  %s\t%9d %7.2f%% %9s %9s %9s %9s %9s %9s %9s\n", name, n, 100*share,
			fmtMicros(l.Min), fmtMicros(int64(l.Mean+0.5)), fmtMicros(l.P50), fmtMicros(l.P90),
			fmtMicros(l.P99), fmtMicros(l.P999), fmtMicros(l.Max))
	}
	allShare := 0.0
	if q.Responses > 0 {
		allShare = 1
	}
	latRow("all", q.Responses, allShare, r.Latency)
	for _, t := range r.Targets {
		latRow(t.Label, t.Responses, t.Share, t.Latency)
	}
	tw.Flush()
	s := r.ServiceTime
	p("Service time (from actual send): p50 %s, p99 %s, max %s\n", fmtMicros(s.P50), fmtMicros(s.P99), fmtMicros(s.Max))
	if c.Mode == "open" {
		l := r.SendLag
		p("Send lag (behind schedule): p50 %s, p99 %s, max %s; %d late (> %s)\n",
			fmtMicros(l.P50), fmtMicros(l.P99), fmtMicros(l.Max), q.Late, c.LateAfter)
	}
	p("\n")

	p("Status codes:")
	if len(r.Statuses) == 0 {
		p(" none")
	}
	for _, sc := range r.Statuses {
		p("  %d x%d", sc.Status, sc.Count)
	}
	p("\n")
	if len(r.TransportErrors) == 0 {
		p("Transport errors: none\n")
	} else {
		p("Transport errors:\n")
		for _, e := range r.TransportErrors {
			p("  %s x%d  (%s)\n", e.Kind, e.Count, truncate(e.Example, 120))
		}
	}
	p("\n")

	p("Served by (responses per provenance header):\n")
	tallyLine := func(header string, ncs []NameCount) {
		p("  %-16s", header)
		for _, nc := range ncs {
			share := 0.0
			if q.Responses > 0 {
				share = 100 * float64(nc.Count) / float64(q.Responses)
			}
			p("  %s: %d (%.2f%%)", orNone(nc.Name), nc.Count, share)
		}
		p("\n")
	}
	tallyLine("X-Model-Version", r.Tally.ByVersion)
	tallyLine("X-Model-Alias", r.Tally.ByAlias)
	tallyLine("X-Model-Name", r.Tally.ByModel)
	tallyLine("X-Route", r.Tally.ByRoute)

	if sp := r.Split; sp != nil {
		p("\nExpected split by %s at %s%% confidence: %s\n", sp.By, fmtFloat(100*sp.Confidence), passFail(sp.Pass))
		tw = tabwriter.NewWriter(bw, 0, 8, 2, ' ', 0)
		fmt.Fprintf(tw, "  TARGET\tEXPECTED\tOBSERVED\tSHARE\tACCEPTED SHARE\tRESULT\n")
		for _, t := range sp.Targets {
			fmt.Fprintf(tw, "  %s\t%.2f%%\t%d\t%.2f%%\t[%.2f%%, %.2f%%]\t%s\n", t.Key, 100*t.Expected, t.Observed,
				100*t.Share, 100*t.Low, 100*t.High, passFail(t.Pass))
		}
		for _, u := range sp.Unexpected {
			fmt.Fprintf(tw, "  %s\t-\t%d\t%.2f%%\t-\tunexpected\n", u.Name, u.Count, 100*float64(u.Count)/float64(max(sp.Total, 1)))
		}
		tw.Flush()
		p("  Chi-square %.3f with %d df, p = %.4g (fails below %.4g); %d responses checked, %d without the header\n",
			sp.ChiSquare, sp.DF, sp.PValue, 1-sp.Confidence, sp.Total, sp.Unattributed)
	}

	p("\n")
	switch {
	case len(r.Flips) == 0 && !anyAlias(r.Tally.ByAlias):
		p("Alias flips: not followed (no response carried X-Model-Alias)\n")
	case len(r.Flips) == 0:
		p("Alias flips: none\n")
	default:
		p("Alias flips:\n")
		for _, f := range r.Flips {
			p("  +%.3fs  %s  %s -> %s  (after %d responses; %d interleaved from %s until +%.3fs)\n",
				f.At, aliasName(f.Model, f.Alias), orNone(f.From), orNone(f.To), f.Seq, f.Interleaved, orNone(f.From), f.LastOld)
		}
		if r.FlipsDropped > 0 {
			p("  ... and %d more flips not recorded\n", r.FlipsDropped)
		}
	}
	return bw.Flush()
}

// windowText describes the measured window's bounds.
func windowText(c *RunConfig) string {
	var parts []string
	if c.Duration != "" {
		parts = append(parts, c.Duration)
	}
	if c.Requests > 0 {
		parts = append(parts, fmt.Sprintf("at most %d requests", c.Requests))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func anyAlias(byAlias []NameCount) bool {
	for _, nc := range byAlias {
		if nc.Name != "" {
			return true
		}
	}
	return false
}

func lateText(r *Report) string {
	if r.Config.Mode != "open" {
		return "-"
	}
	return strconv.FormatInt(r.Requests.Late, 10)
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func aliasName(model, alias string) string {
	if model == "" {
		return alias
	}
	return model + "@" + alias
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// fmtMicros renders a microsecond latency with a unit fitting its size.
func fmtMicros(us int64) string {
	switch {
	case us < 1000:
		return strconv.FormatInt(us, 10) + "µs"
	case us < 1_000_000:
		return strconv.FormatFloat(float64(us)/1e3, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(float64(us)/1e6, 'f', 3, 64) + "s"
}

func fmtFloat(v float64) string {
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
