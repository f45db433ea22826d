package loadtest

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Series colours: latency percentiles, then targets.
var (
	percentileColors = [4]string{"#2b8a3e", "#1c7ed6", "#e8590c", "#c92a2a"}
	targetColors     = []string{"#1c7ed6", "#e8590c", "#2b8a3e", "#7048e8", "#c2255c", "#0c8599", "#5c940d", "#e67700"}
)

const htmlStyle = `body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px;color:#212529;background:#f8f9fa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
p.sub{margin:2px 0;color:#495057}
table{border-collapse:collapse;background:#fff;margin:4px 0 8px;font-size:13px}
th,td{border:1px solid #dee2e6;padding:4px 10px;text-align:right}th{background:#f1f3f5}
td.l,th.l{text-align:left}.pass{color:#2b8a3e;font-weight:600}.fail{color:#c92a2a;font-weight:600}
svg.chart{display:block;margin:8px 0 16px;border:1px solid #dee2e6}
svg .ct{font-size:15px;font-weight:600;fill:#212529}svg .lg{font-size:12px;fill:#343a40}
svg .yt{font-size:11px;fill:#495057;text-anchor:end}svg .xt{font-size:11px;fill:#495057;text-anchor:middle}
svg .mk{font-size:11px;fill:#7048e8}svg .grid{stroke:#e9ecef;stroke-width:1}svg .tick{stroke:#868e96}
svg .frame{fill:none;stroke:#adb5bd}svg .marker{stroke:#7048e8;stroke-width:1.5;stroke-dasharray:4 3}
`

// WriteHTML writes a self-contained HTML page: the report's tables and
// inline SVG charts of latency percentiles (p50/p90/p99/max) per second for
// all responses and for each target, and of throughput per second by
// target. Alias flips are marked on every chart. The page is well-formed
// XML and loads nothing from elsewhere.
func (r *Report) WriteHTML(w io.Writer) error {
	var b strings.Builder
	c := &r.Config
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>")
	b.WriteString("<title>mlgate load test report</title><style>")
	b.WriteString(htmlStyle)
	b.WriteString("</style></head><body>\n")

	mode := "closed loop, " + plural(c.Connections, "connection")
	if c.Mode == "open" {
		mode = fmt.Sprintf("open loop at %s req/s, at most %d in flight", fmtFloat(c.Rate), c.MaxInFlight)
	}
	fmt.Fprintf(&b, "<h1>mlgate load test: %s</h1>\n", esc(mode))
	fmt.Fprintf(&b, "<p class=\"sub\">POST %s (%s, %d distinct bodies)</p>\n", esc(c.Endpoint), esc(c.ContentType), c.Bodies)
	fmt.Fprintf(&b, "<p class=\"sub\">Started %s; measured window %s after %s warmup; elapsed %.3f s.",
		esc(r.Start.Format("2006-01-02 15:04:05 UTC")), esc(windowText(c)), esc(c.Warmup), r.ElapsedSeconds)
	if r.Interrupted {
		b.WriteString(" <strong>Interrupted: the report covers the run until it was stopped.</strong>")
	}
	b.WriteString("</p>\n")

	q := r.Requests
	b.WriteString("<h2>Requests</h2>\n<table><tr><th>scheduled</th><th>sent</th><th>responses</th><th>ok</th><th>http errors</th><th>transport errors</th><th>unsent</th><th>late</th><th>warmup</th><th>total req/s</th><th>ok req/s</th></tr>\n")
	fmt.Fprintf(&b, "<tr><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%s</td><td>%d</td><td>%.2f</td><td>%.2f</td></tr></table>\n",
		q.Scheduled, q.Sent, q.Responses, q.OK, q.HTTPErrors, q.TransportErrors, q.Unsent, lateText(r), q.Warmup, r.Throughput.Total, r.Throughput.OK)

	from := "send time"
	if c.Mode == "open" {
		from = "intended send time"
	}
	fmt.Fprintf(&b, "<h2>Latency from each request's %s</h2>\n", from)
	b.WriteString("<table><tr><th class=\"l\">target</th><th>responses</th><th>share</th><th>min</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n")
	latRow := func(name string, n int64, share float64, l Latency) {
		fmt.Fprintf(&b, "<tr><td class=\"l\">%s</td><td>%d</td><td>%.2f%%</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			esc(name), n, 100*share, fmtMicros(l.Min), fmtMicros(int64(l.Mean+0.5)), fmtMicros(l.P50), fmtMicros(l.P90),
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
	b.WriteString("</table>\n")
	fmt.Fprintf(&b, "<p class=\"sub\">Service time (from actual send): p50 %s, p99 %s, max %s.", fmtMicros(r.ServiceTime.P50), fmtMicros(r.ServiceTime.P99), fmtMicros(r.ServiceTime.Max))
	if c.Mode == "open" {
		fmt.Fprintf(&b, " Send lag: p99 %s, max %s; %d requests late (more than %s behind schedule).", fmtMicros(r.SendLag.P99), fmtMicros(r.SendLag.Max), q.Late, esc(c.LateAfter))
	}
	b.WriteString("</p>\n")

	b.WriteString("<h2>Over time (1-second buckets, by completion time)</h2>\n")
	for _, ch := range r.charts() {
		ch.svg(&b)
		b.WriteByte('\n')
	}
	b.WriteString("<h2>Outcomes</h2>\n<table><tr><th class=\"l\">outcome</th><th>count</th><th class=\"l\">example</th></tr>\n")
	for _, s := range r.Statuses {
		fmt.Fprintf(&b, "<tr><td class=\"l\">HTTP %d</td><td>%d</td><td class=\"l\"></td></tr>\n", s.Status, s.Count)
	}
	for _, e := range r.TransportErrors {
		fmt.Fprintf(&b, "<tr><td class=\"l\">%s</td><td>%d</td><td class=\"l\">%s</td></tr>\n", esc(e.Kind), e.Count, esc(truncate(e.Example, 160)))
	}
	if q.Unsent > 0 {
		fmt.Fprintf(&b, "<tr><td class=\"l\">unsent</td><td>%d</td><td class=\"l\"></td></tr>\n", q.Unsent)
	}
	b.WriteString("</table>\n")

	b.WriteString("<h2>Served by</h2>\n<table><tr><th class=\"l\">header</th><th class=\"l\">value</th><th>responses</th><th>share</th></tr>\n")
	for _, h := range []struct {
		name string
		ncs  []NameCount
	}{{"X-Model-Version", r.Tally.ByVersion}, {"X-Model-Alias", r.Tally.ByAlias}, {"X-Model-Name", r.Tally.ByModel}, {"X-Route", r.Tally.ByRoute}} {
		for _, nc := range h.ncs {
			fmt.Fprintf(&b, "<tr><td class=\"l\">%s</td><td class=\"l\">%s</td><td>%d</td><td>%.2f%%</td></tr>\n",
				h.name, esc(orNone(nc.Name)), nc.Count, 100*safeDiv(float64(nc.Count), float64(q.Responses)))
		}
	}
	b.WriteString("</table>\n")

	if sp := r.Split; sp != nil {
		fmt.Fprintf(&b, "<h2>Expected split by %s at %s%% confidence: <span class=\"%s\">%s</span></h2>\n",
			esc(sp.By), fmtFloat(100*sp.Confidence), strings.ToLower(passFail(sp.Pass)), passFail(sp.Pass))
		b.WriteString("<table><tr><th class=\"l\">target</th><th>expected</th><th>observed</th><th>share</th><th>accepted share</th><th>result</th></tr>\n")
		for _, t := range sp.Targets {
			fmt.Fprintf(&b, "<tr><td class=\"l\">%s</td><td>%.2f%%</td><td>%d</td><td>%.2f%%</td><td>%.2f%% to %.2f%%</td><td class=\"%s\">%s</td></tr>\n",
				esc(t.Key), 100*t.Expected, t.Observed, 100*t.Share, 100*t.Low, 100*t.High, strings.ToLower(passFail(t.Pass)), passFail(t.Pass))
		}
		for _, u := range sp.Unexpected {
			fmt.Fprintf(&b, "<tr><td class=\"l\">%s</td><td>-</td><td>%d</td><td>%.2f%%</td><td>-</td><td class=\"fail\">unexpected</td></tr>\n",
				esc(u.Name), u.Count, 100*safeDiv(float64(u.Count), float64(sp.Total)))
		}
		b.WriteString("</table>\n")
		fmt.Fprintf(&b, "<p class=\"sub\">Chi-square %.3f with %d df, p = %.4g (fails below %.4g); %d responses checked, %d without the header.</p>\n",
			sp.ChiSquare, sp.DF, sp.PValue, 1-sp.Confidence, sp.Total, sp.Unattributed)
	}

	b.WriteString("<h2>Alias flips</h2>\n")
	if len(r.Flips) == 0 {
		b.WriteString("<p class=\"sub\">No alias changed version during the run.</p>\n")
	} else {
		b.WriteString("<table><tr><th>at</th><th class=\"l\">alias</th><th class=\"l\">from</th><th class=\"l\">to</th><th>after responses</th><th>interleaved</th><th>last old</th></tr>\n")
		for _, f := range r.Flips {
			fmt.Fprintf(&b, "<tr><td>+%.3f s</td><td class=\"l\">%s</td><td class=\"l\">%s</td><td class=\"l\">%s</td><td>%d</td><td>%d</td><td>+%.3f s</td></tr>\n",
				f.At, esc(aliasName(f.Model, f.Alias)), esc(orNone(f.From)), esc(orNone(f.To)), f.Seq, f.Interleaved, f.LastOld)
		}
		b.WriteString("</table>\n")
		if r.FlipsDropped > 0 {
			fmt.Fprintf(&b, "<p class=\"sub\">%d more flips were not recorded.</p>\n", r.FlipsDropped)
		}
	}

	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// charts returns the page's charts: latency for all responses, latency per
// target when there is more than one, and throughput by target.
func (r *Report) charts() []*lineChart {
	n := len(r.Series)
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = float64(i) + 0.5
	}
	var markers []chartMarker
	for _, f := range r.Flips {
		markers = append(markers, chartMarker{x: f.At, label: fmt.Sprintf("%s %s→%s", f.Alias, orNone(f.From), orNone(f.To))})
	}
	latencyChart := func(title string, pick func(Second) (Percentiles, bool)) *lineChart {
		ys := [4][]float64{}
		for k := range ys {
			ys[k] = make([]float64, n)
		}
		for i, s := range r.Series {
			p, ok := pick(s)
			vals := [4]int64{p.P50, p.P90, p.P99, p.Max}
			for k := range ys {
				ys[k][i] = math.NaN()
				if ok {
					ys[k][i] = float64(vals[k])
				}
			}
		}
		ch := &lineChart{title: title, yTitle: "latency", yFormat: fmtAxisMicros,
			xMax: float64(n), markers: markers}
		for k, name := range []string{"p50", "p90", "p99", "max"} {
			ch.series = append(ch.series, chartSeries{name: name, color: percentileColors[k], x: xs, y: ys[k]})
		}
		ch.logY = wideRange(ch.series)
		return ch
	}
	charts := []*lineChart{latencyChart("Latency per second: all responses", func(s Second) (Percentiles, bool) {
		return s.Latency, s.Responses > 0
	})}
	if len(r.Targets) > 1 {
		for ti, t := range r.Targets {
			charts = append(charts, latencyChart("Latency per second: "+t.Label, func(s Second) (Percentiles, bool) {
				for _, ts := range s.Targets {
					if ts.Target == ti {
						return ts.Latency, ts.Responses > 0
					}
				}
				return Percentiles{}, false
			}))
		}
	}

	tp := &lineChart{title: "Throughput per second by target", yTitle: "responses per second",
		yFormat: func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }, xMax: float64(n), markers: markers}
	for ti, t := range r.Targets {
		ys := make([]float64, n)
		for i, s := range r.Series {
			for _, ts := range s.Targets {
				if ts.Target == ti {
					ys[i] = float64(ts.Responses)
				}
			}
		}
		tp.series = append(tp.series, chartSeries{name: t.Label, color: targetColors[ti%len(targetColors)], x: xs, y: ys})
	}
	total, errs := make([]float64, n), make([]float64, n)
	for i, s := range r.Series {
		total[i] = float64(s.Responses)
		errs[i] = float64(s.Errors)
	}
	if len(r.Targets) != 1 {
		tp.series = append(tp.series, chartSeries{name: "all responses", color: "#495057", dashed: true, x: xs, y: total})
	}
	tp.series = append(tp.series, chartSeries{name: "errors", color: "#c92a2a", dashed: true, x: xs, y: errs})
	return append(charts, tp)
}

// wideRange reports whether the series' positive values span more than a
// factor of 20, where a log scale reads better.
func wideRange(series []chartSeries) bool {
	lo, hi := math.Inf(1), 0.0
	for _, s := range series {
		for _, v := range s.y {
			if v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	return hi > 20*lo
}

// fmtAxisMicros renders a microsecond axis tick compactly: "0", "500µs",
// "2ms", "1.5s".
func fmtAxisMicros(v float64) string {
	unit, div := "µs", 1.0
	switch {
	case v == 0:
		return "0"
	case v >= 1e6:
		unit, div = "s", 1e6
	case v >= 1e3:
		unit, div = "ms", 1e3
	}
	return strconv.FormatFloat(v/div, 'g', 4, 64) + unit
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
