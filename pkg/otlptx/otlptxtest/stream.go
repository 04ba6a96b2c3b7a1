package otlptxtest // import "github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Mix names which signals a batch holds.
type Mix string

const (
	MixAll     Mix = "mixed"   // a third each of spans, data points and log records
	MixTraces  Mix = "traces"  // spans only
	MixMetrics Mix = "metrics" // data points only: gauges, sums and histograms
	MixLogs    Mix = "logs"    // log records only
)

// Mixes lists every mix.
var Mixes = []Mix{MixAll, MixTraces, MixMetrics, MixLogs}

// Stream produces a stream of distinct batches as a collector in front of a few services
// sees it: each batch holds data of several services on several hosts, with new ids,
// values and timestamps every batch (the string vocabulary, as in real telemetry, stays).
// Benchmarks encode a stream rather than one batch over and over, so that nothing can
// profit from having seen exactly the same batch before.
type Stream struct {
	services []*Generator
	batch    int
}

// NewStream returns a stream of batches from services services (at least 1); the same
// seed gives the same stream.
func NewStream(seed uint64, services int) *Stream {
	names := []string{"checkout", "cart", "payment", "inventory", "frontend", "shipping"}
	s := &Stream{}
	for i := range max(services, 1) {
		g := NewGenerator(seed*131 + uint64(i))
		g.Service = names[i%len(names)]
		g.Instance = fmt.Sprintf("%s-%d", g.Service, seed+uint64(i))
		g.Host = fmt.Sprintf("node-%d.eu-west-1.internal", (i*7+int(seed))%5)
		s.services = append(s.services, g)
	}
	return s
}

// Next returns the next batch of about items items of the given mix; signals the mix does
// not include are zero values.
func (s *Stream) Next(mix Mix, items int) (ptrace.Traces, pmetric.Metrics, plog.Logs) {
	s.batch++
	var td ptrace.Traces
	var md pmetric.Metrics
	var ld plog.Logs
	var spans, points, records int
	switch mix {
	case MixTraces:
		spans = items
	case MixMetrics:
		points = items
	case MixLogs:
		records = items
	default:
		spans, points, records = items/3, items/3, items-2*(items/3)
	}
	if spans > 0 {
		td = ptrace.NewTraces()
	}
	if points > 0 {
		md = pmetric.NewMetrics()
	}
	if records > 0 {
		ld = plog.NewLogs()
	}
	n := len(s.services)
	for i, g := range s.services {
		g.Epoch = baseTime.Add(time.Duration(s.batch) * 10 * time.Second)
		share := func(total int) int { return total/n + boolToInt(i < total%n) }
		if k := share(spans); k > 0 {
			g.Traces(k).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
		if k := share(points); k > 0 {
			g.Metrics(k).ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
		}
		if k := share(records); k > 0 {
			g.Logs(k).ResourceLogs().MoveAndAppendTo(ld.ResourceLogs())
		}
	}
	return td, md, ld
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
