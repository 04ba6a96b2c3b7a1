package readinesshubextension

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRenderPlot(t *testing.T) {
	from, to := t0, t0.Add(time.Hour)
	var pts []Point
	for i := -5; i <= 60; i++ {
		pts = append(pts, Point{t0.Add(time.Duration(i) * time.Minute), float64(i)})
	}
	svg := string(renderPlot(plotSpec{
		Title: "goroutines <total>", Points: pts, From: from, To: to, Format: formatCount,
		Bands: []band{
			{From: t0.Add(10 * time.Minute), To: t0.Add(20 * time.Minute), Label: "goroutine-leak", Anchor: "ep-1"},
			{From: t0.Add(59 * time.Minute), Label: "heap-growth", Anchor: "ep-2"},                   // active, at the right edge
			{From: t0.Add(-3 * time.Hour), To: t0.Add(-2 * time.Hour), Label: "old", Anchor: "ep-3"}, // before the plot
		},
	}))
	assert.Contains(t, svg, "goroutines &lt;total&gt;", "text is escaped")
	assert.Equal(t, 2, strings.Count(svg, `<rect class="episode"`), "the episode before the plot is not drawn")
	assert.Contains(t, svg, `href="#ep-1"`)
	assert.Contains(t, svg, `text-anchor="end">heap-growth</text>`, "a label near the right edge ends at its band")
	assert.Equal(t, 61, strings.Count(strings.Split(strings.Split(svg, `points="`)[1], `"`)[0], ","), "points before the plot are left out")
	assert.Contains(t, svg, ">10:30<", "time ticks")

	empty := string(renderPlot(plotSpec{Title: "x", From: from, To: to, Format: formatCount}))
	assert.Contains(t, empty, "no data yet")
	assert.NotContains(t, empty, "polyline")
}

func TestFormats(t *testing.T) {
	assert.Equal(t, "3034", formatCount(3034))
	assert.Equal(t, "12.5k", formatCount(12500))
	assert.Equal(t, "2.5M", formatCount(2.5e6))
	assert.Equal(t, "0.4", formatCount(0.4))
	assert.Equal(t, "7.5 MiB", formatBytes(7.5*1024*1024))
	assert.Equal(t, "512 B", formatBytes(512))
	assert.Equal(t, "460.0ms", formatSeconds(0.46))
	assert.Equal(t, "250µs", formatSeconds(0.00025))
	assert.Equal(t, "1.50s", formatSeconds(1.5))
	assert.Equal(t, "0", formatSeconds(0))
	assert.Equal(t, 5*time.Minute, timeStep(30*time.Minute))
	assert.Equal(t, 10*time.Minute, timeStep(time.Hour))
}
