package loadtest

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartW      = 1100
	chartH      = 320
	chartLeft   = 80
	chartRight  = 24
	chartTop    = 56
	chartBottom = 44
)

// lineChart is an SVG line chart of per-second values.
type lineChart struct {
	title   string
	yTitle  string
	yFormat func(float64) string
	logY    bool
	xMax    float64 // seconds shown, from 0
	series  []chartSeries
	markers []chartMarker
}

// chartSeries is one line; a NaN y leaves a gap.
type chartSeries struct {
	name   string
	color  string
	dashed bool
	x, y   []float64
}

// chartMarker is a labelled vertical line, e.g. an alias flip.
type chartMarker struct {
	x     float64
	label string
}

// svg renders the chart as a standalone <svg> element.
func (c *lineChart) svg(b *strings.Builder) {
	pw := float64(chartW - chartLeft - chartRight)
	ph := float64(chartH - chartTop - chartBottom)
	x0, y0 := float64(chartLeft), float64(chartTop)

	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range c.series {
		for _, v := range s.y {
			if math.IsNaN(v) || (c.logY && v <= 0) {
				continue
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	var ticks []float64
	var ymap func(float64) float64
	if c.logY {
		if math.IsInf(lo, 1) {
			lo, hi = 1, 10
		}
		ticks = logTicks(lo, hi)
		lmin, lmax := math.Log10(ticks[0]), math.Log10(ticks[len(ticks)-1])
		ymap = func(v float64) float64 { return y0 + ph - (math.Log10(v)-lmin)/(lmax-lmin)*ph }
	} else {
		if math.IsInf(hi, -1) || hi <= 0 {
			hi = 1
		}
		ticks = linearTicks(0, hi*1.05, 5) // headroom keeps a flat top line off the frame
		top := ticks[len(ticks)-1]
		ymap = func(v float64) float64 { return y0 + ph - v/top*ph }
	}
	xMax := math.Max(c.xMax, 1)
	xmap := func(v float64) float64 { return x0 + v/xMax*pw }

	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(b, `<title>%s</title>`, esc(c.title))
	fmt.Fprintf(b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`, chartW, chartH)
	fmt.Fprintf(b, `<text x="%g" y="20" class="ct">%s</text>`, x0, esc(c.title))

	// Legend.
	lx := x0
	for _, s := range c.series {
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(b, `<line x1="%.1f" y1="38" x2="%.1f" y2="38" stroke="%s" stroke-width="3"%s/>`, lx, lx+22, s.color, dash)
		fmt.Fprintf(b, `<text x="%.1f" y="42" class="lg">%s</text>`, lx+28, esc(s.name))
		lx += 40 + 7.2*float64(len([]rune(s.name)))
	}

	// Grid and axes.
	for _, t := range ticks {
		y := ymap(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="grid"/>`, x0, y, x0+pw, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="yt">%s</text>`, x0-6, y+4, esc(c.yFormat(t)))
	}
	for _, t := range linearTicks(0, xMax, 10) {
		if t > xMax {
			break
		}
		x := xmap(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="tick"/>`, x, y0+ph, x, y0+ph+5)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="xt">%ss</text>`, x, y0+ph+18, strconv.FormatFloat(t, 'f', -1, 64))
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="frame"/>`, x0, y0, pw, ph)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="xt">seconds since the measured window began</text>`, x0+pw/2, float64(chartH-6))
	fmt.Fprintf(b, `<text transform="translate(16 %.1f) rotate(-90)" class="xt">%s</text>`, y0+ph/2, esc(c.yTitle))

	// Markers under the lines.
	for _, m := range c.markers {
		x := xmap(m.x)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="marker"/>`, x, y0, x, y0+ph)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="mk">%s</text>`, x+4, y0+12, esc(m.label))
	}

	// Lines; isolated points get a dot so that they stay visible.
	for _, s := range c.series {
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var d strings.Builder
		pen := false
		valid := func(i int) bool {
			return i >= 0 && i < len(s.y) && !math.IsNaN(s.y[i]) && (!c.logY || s.y[i] > 0)
		}
		var dots []int
		for i := range s.y {
			if !valid(i) {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, xmap(s.x[i]), ymap(s.y[i]))
			pen = true
			if !valid(i-1) && !valid(i+1) {
				dots = append(dots, i)
			}
		}
		if d.Len() > 0 {
			fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"%s/>`, strings.TrimSpace(d.String()), s.color, dash)
		}
		for _, i := range dots {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, xmap(s.x[i]), ymap(s.y[i]), s.color)
		}
	}
	b.WriteString(`</svg>`)
}

// linearTicks returns evenly spaced round ticks from lo covering hi, about
// n of them.
func linearTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / float64(n))
	var ticks []float64
	for v := math.Floor(lo/step) * step; ; v += step {
		ticks = append(ticks, roundTo(v, step))
		if v >= hi-step*1e-9 {
			break
		}
	}
	return ticks
}

func niceStep(raw float64) float64 {
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

func roundTo(v, step float64) float64 {
	digits := math.Max(0, -math.Floor(math.Log10(step))+1)
	p := math.Pow(10, digits)
	return math.Round(v*p) / p
}

// logTicks returns ticks spanning [lo, hi] on a log scale, the first at or
// below lo and the last at or above hi: 1-2-5 steps, or decades only when
// the range spans more than three decades.
func logTicks(lo, hi float64) []float64 {
	steps := []float64{1, 2, 5}
	if math.Log10(hi)-math.Log10(lo) > 3 {
		steps = []float64{1}
	}
	var ticks []float64
	for e := math.Floor(math.Log10(lo)); len(ticks) < 2 || ticks[len(ticks)-1] < hi; e++ {
		for _, m := range steps {
			v := m * math.Pow(10, e)
			if v <= lo {
				ticks = ticks[:0]
			}
			ticks = append(ticks, v)
			if len(ticks) >= 2 && v >= hi {
				break
			}
		}
	}
	return ticks
}

func esc(s string) string { return html.EscapeString(s) }
