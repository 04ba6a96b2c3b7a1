package readinesshubextension // import "github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// band is a stretch of time to shade on a plot: one anomaly episode.
type band struct {
	From, To time.Time // To zero: still active (runs to the plot's right edge)
	Label    string
	Anchor   string // the episode's id on the service page
}

// plotSpec is one server-rendered SVG time plot.
type plotSpec struct {
	Title  string
	Points []Point
	From   time.Time
	To     time.Time
	Bands  []band
	Format func(float64) string
}

const (
	plotW, plotH                         = 640, 200
	padLeft, padRight, padTop, padBottom = 56, 12, 22, 24
)

// renderPlot draws points, shaded episodes and axes as an inline SVG that scales to its container's width.
func renderPlot(ps plotSpec) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="plot" viewBox="0 0 %d %d" role="img" aria-label="%s">`, plotW, plotH, html.EscapeString(ps.Title))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(ps.Title))
	x0, x1 := float64(padLeft), float64(plotW-padRight)
	y0, y1 := float64(plotH-padBottom), float64(padTop)
	span := ps.To.Sub(ps.From).Seconds()
	if span <= 0 {
		span = 1
	}
	xOf := func(t time.Time) float64 {
		return x0 + (x1-x0)*math.Min(1, math.Max(0, t.Sub(ps.From).Seconds()/span))
	}
	lo, hi := yRange(ps.Points)
	yOf := func(v float64) float64 { return y0 - (y0-y1)*(v-lo)/(hi-lo) }

	// Episodes first, so that the line is drawn over them.
	for i, bd := range ps.Bands {
		to := bd.To
		if to.IsZero() || to.After(ps.To) {
			to = ps.To
		}
		if to.Before(ps.From) || bd.From.After(ps.To) {
			continue
		}
		xa, xb := xOf(bd.From), xOf(to)
		if xb-xa < 2 {
			xb = xa + 2
		}
		fmt.Fprintf(&b, `<a href="#%s"><rect class="episode" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect>`,
			html.EscapeString(bd.Anchor), xa, y1, xb-xa, y0-y1, html.EscapeString(bd.Label))
		// Labels of overlapping episodes go on rows of their own; near the right edge a label ends at its band.
		lx, anchor := xa+3, "start"
		if xa > x1-90 {
			lx, anchor = xb-3, "end"
		}
		fmt.Fprintf(&b, `<text class="episode-label" x="%.1f" y="%.1f" text-anchor="%s">%s</text></a>`, lx, y1+12+13*float64(i%3), anchor, html.EscapeString(bd.Label))
	}
	// Axes and grid.
	for i := 0; i <= 2; i++ {
		v := lo + (hi-lo)*float64(i)/2
		y := yOf(v)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, x0, x1, y, y)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, x0-4, y+4, html.EscapeString(ps.Format(v)))
	}
	step := timeStep(ps.To.Sub(ps.From))
	for t := ps.From.Truncate(step).Add(step); !t.After(ps.To); t = t.Add(step) {
		x := xOf(t)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, x, x, y1, y0)
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x, plotH-6, t.UTC().Format("15:04"))
	}
	if len(ps.Points) == 0 {
		fmt.Fprintf(&b, `<text class="empty" x="%d" y="%d" text-anchor="middle">no data yet</text>`, plotW/2, plotH/2)
	} else {
		b.WriteString(`<polyline class="line" points="`)
		for _, p := range ps.Points {
			if p.Time.Before(ps.From) {
				continue
			}
			fmt.Fprintf(&b, "%.1f,%.1f ", xOf(p.Time), yOf(p.Value))
		}
		b.WriteString(`"/>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from escaped text and numbers only
}

// renderSparkline draws a small line without axes for the overview.
func renderSparkline(points []Point, from, to time.Time, active bool) template.HTML {
	const w, h = 120, 28
	var b strings.Builder
	class := "spark"
	if active {
		class += " spark-anomaly"
	}
	fmt.Fprintf(&b, `<svg class="%s" viewBox="0 0 %d %d" preserveAspectRatio="none" aria-hidden="true">`, class, w, h)
	if len(points) > 1 {
		span := math.Max(1, to.Sub(from).Seconds())
		lo, hi := yRange(points)
		b.WriteString(`<polyline points="`)
		stride := max(1, len(points)/w) // about one point per unit of width
		for i, p := range points {
			if p.Time.Before(from) || (i%stride != 0 && i != len(points)-1) {
				continue
			}
			x := float64(w) * p.Time.Sub(from).Seconds() / span
			y := float64(h-2) - float64(h-4)*(p.Value-lo)/(hi-lo)
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		b.WriteString(`"/>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers only
}

// yRange is the value range a plot shows: from zero (or the lowest negative value) to a little above the highest.
func yRange(points []Point) (lo, hi float64) {
	lo, hi = 0, math.Inf(-1)
	for _, p := range points {
		lo = math.Min(lo, p.Value)
		hi = math.Max(hi, p.Value)
	}
	if math.IsInf(hi, -1) || hi <= lo {
		hi = lo + 1
	}
	return lo, hi + (hi-lo)*0.08
}

// timeStep picks a grid step that puts a handful of ticks on a plot spanning d.
func timeStep(d time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour} {
		if d/s <= 7 {
			return s
		}
	}
	return 2 * time.Hour
}

// formatCount prints a count (goroutines, GC cycles) with k/M suffixes.
func formatCount(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case a >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}

// formatBytes prints a byte count in binary units.
func formatBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for math.Abs(v) >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(v, 'f', 0, 64) + " B"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
}

// formatSeconds prints a duration given in seconds (GC pause per minute).
func formatSeconds(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a < 1e-3:
		return strconv.FormatFloat(v*1e6, 'f', 0, 64) + "µs"
	case a < 1:
		return strconv.FormatFloat(v*1e3, 'f', 1, 64) + "ms"
	default:
		return strconv.FormatFloat(v, 'f', 2, 64) + "s"
	}
}
