package main

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// chartPoint is one measured point: offered load in requests per second and
// latency in microseconds.
type chartPoint struct{ x, y float64 }

// chartSeries is one line of the chart.
type chartSeries struct {
	name   string
	color  string
	dashed bool
	points []chartPoint
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH                    = 760, 420
	plotL, plotR, plotTop, plotBottom = 78, 590, 44, 366
)

// seriesColors are per server.
var seriesColors = map[string]string{serverMlgate: "#1c7ed6", serverNaive: "#e8590c", serverCeiling: "#2b8a3e"}

// latencySeries returns the open loop's p50 and p99 lines for each server
// that has open-loop runs.
func latencySeries(s *Suite) []chartSeries {
	var out []chartSeries
	for _, name := range allServers {
		runs := s.openRuns(name)
		if len(runs) == 0 {
			continue
		}
		p50 := chartSeries{name: name + " p50", color: seriesColors[name]}
		p99 := chartSeries{name: name + " p99", color: seriesColors[name], dashed: true}
		for _, r := range runs {
			if r.Summary.Responses == 0 {
				continue
			}
			p50.points = append(p50.points, chartPoint{r.Rate, float64(r.Summary.P50)})
			p99.points = append(p99.points, chartPoint{r.Rate, float64(r.Summary.P99)})
		}
		if len(p50.points) > 0 {
			out = append(out, p50, p99)
		}
	}
	return out
}

// latencyChartSVG draws series as a self-contained SVG document: offered
// load on a linear x axis from zero, latency on a logarithmic y axis. It
// returns "" when there is nothing to draw.
func latencyChartSVG(title string, series []chartSeries) string {
	xmax, ymin, ymax := 0.0, math.Inf(1), 0.0
	for _, s := range series {
		for _, p := range s.points {
			xmax = max(xmax, p.x)
			if p.y > 0 {
				ymin, ymax = min(ymin, p.y), max(ymax, p.y)
			}
		}
	}
	if xmax <= 0 || ymax <= 0 {
		return ""
	}
	xticks := linearTicks(xmax*1.05, 6)
	xhi := xticks[len(xticks)-1]
	lo := math.Pow(10, math.Floor(math.Log10(ymin)))
	hi := math.Pow(10, math.Ceil(math.Log10(ymax)))
	if hi <= lo {
		hi = lo * 10
	}
	xpos := func(x float64) float64 { return plotL + (plotR-plotL)*x/xhi }
	ypos := func(y float64) float64 {
		y = max(y, lo)
		return plotBottom - (plotBottom-plotTop)*math.Log10(y/lo)/math.Log10(hi/lo)
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica,Arial,sans-serif">`+"\n", chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="600" fill="#212529">%s</text>`+"\n", plotL, html.EscapeString(title))
	for _, y := range logTicks(lo, hi) {
		py := ypos(y)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e9ecef"/>`+"\n", plotL, py, plotR, py)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" fill="#495057" text-anchor="end">%s</text>`+"\n", plotL-6, py+4, html.EscapeString(fmtTickMicros(y)))
	}
	for _, x := range xticks {
		px := xpos(x)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e9ecef"/>`+"\n", px, plotTop, px, plotBottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" fill="#495057" text-anchor="middle">%s</text>`+"\n", px, plotBottom+16, fmtCount(x))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#adb5bd"/>`+"\n", plotL, plotTop, plotR-plotL, plotBottom-plotTop)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="#343a40" text-anchor="middle">offered load (requests/s)</text>`+"\n", (plotL+plotR)/2, plotBottom+38)
	fmt.Fprintf(&b, `<text x="16" y="%d" font-size="12" fill="#343a40" text-anchor="middle" transform="rotate(-90 16 %d)">latency (log scale)</text>`+"\n", (plotTop+plotBottom)/2, (plotTop+plotBottom)/2)

	for i, s := range series {
		if len(s.points) == 0 {
			continue
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		for _, p := range s.points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xpos(p.x), ypos(p.y)))
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), s.color, dash)
		for _, p := range s.points {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", xpos(p.x), ypos(p.y), s.color)
		}
		ly := plotTop + 10 + 20*i
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", plotR+16, ly, plotR+44, ly, s.color, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="#343a40">%s</text>`+"\n", plotR+50, ly+4, html.EscapeString(s.name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// linearTicks returns n or so round ticks from 0 to at least hi.
func linearTicks(hi float64, n int) []float64 {
	raw := hi / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	var out []float64
	for v := 0.0; ; v += step {
		out = append(out, v)
		if v >= hi {
			return out
		}
	}
}

// logTicks returns the 1, 2, 5 multiples of powers of ten in [lo, hi].
func logTicks(lo, hi float64) []float64 {
	var out []float64
	for d := lo; d <= hi*1.0001; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := d * m; v <= hi*1.0001 {
				out = append(out, v)
			}
		}
	}
	return out
}

// fmtCount writes a request rate compactly: 950, 12k, 1.5k.
func fmtCount(v float64) string {
	switch {
	case v >= 1000 && math.Mod(v, 1000) == 0:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.1fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}

// fmtTickMicros writes a latency axis tick given in microseconds: "500 µs",
// "2 ms", "1.5 s".
func fmtTickMicros(us float64) string {
	switch {
	case us < 1000:
		return strconv.FormatFloat(us, 'g', 3, 64) + " µs"
	case us < 1e6:
		return strconv.FormatFloat(us/1e3, 'g', 3, 64) + " ms"
	}
	return strconv.FormatFloat(us/1e6, 'g', 3, 64) + " s"
}
