package readinesssamplerprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinesssamplerprocessor"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
	"github.com/otelcol-ready/otelcol-ready/processor/readinesssamplerprocessor/internal/metadata"
)

// Attributes set on the spans kept because of an episode (above the base rate).
const (
	AttrSamplingReason = "readiness.sampling.reason"
	AttrSamplingRule   = "readiness.sampling.rule"
	reasonBase         = "base"
	reasonEpisode      = "episode"
)

// randomnessBits is the number of low trace id bits a decision reads: W3C Trace Context level 2 makes them random,
// and OpenTelemetry's consistent probability sampling compares them with a threshold.
const randomnessBits = 56

const maxRandomness = uint64(1) << randomnessBits

// threshold is the rejection threshold of a sampling percentage: a span is kept when the randomness of its trace
// id is at least the threshold. 100 % keeps everything (0), 0 % nothing (2^56).
func threshold(percentage float64) uint64 {
	if percentage >= 100 {
		return 0
	}
	if percentage <= 0 {
		return maxRandomness
	}
	return uint64(math.Round((1 - percentage/100) * float64(maxRandomness)))
}

// randomness is the low 56 bits of the trace id: the same for every span of a trace, in every collector.
func randomness(id pcommon.TraceID) uint64 {
	return binary.BigEndian.Uint64(id[8:]) & (maxRandomness - 1)
}

type sampler struct {
	cfg       *Config
	base      uint64
	episode   uint64
	telemetry *metadata.TelemetryBuilder
	hub       readinesshubextension.Hub
}

func newSampler(set processor.Settings, cfg *Config) (*sampler, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &sampler{
		cfg:       cfg,
		base:      threshold(cfg.SamplingPercentage),
		episode:   threshold(cfg.EpisodeSamplingPercentage),
		telemetry: tb,
	}, nil
}

func (s *sampler) start(_ context.Context, host component.Host) error {
	hub, err := readinesshubextension.FindHub(host, s.cfg.HubExtension)
	switch {
	case err == nil:
		s.hub = hub
		return nil
	case s.cfg.HubExtension != nil:
		return fmt.Errorf("hub_extension: %w", err)
	case errors.Is(err, readinesshubextension.ErrNoHub):
		return fmt.Errorf("the readiness sampler learns the flagged services from the readiness_hub extension: add readiness_hub to service.extensions (with the readiness processor in a metrics pipeline): %w", err)
	default:
		return fmt.Errorf("%w (set hub_extension)", err)
	}
}

func (s *sampler) shutdown(context.Context) error {
	s.telemetry.Shutdown()
	return nil
}

// counts are the decisions of one batch.
type counts struct {
	keptBase, keptEpisode, droppedBase, droppedEpisode int64
}

// processTraces keeps the spans whose trace falls within their service's rate.
func (s *sampler) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	var c counts
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		var ep readinesshubextension.Episode
		flagged := false
		if name, ok := rs.Resource().Attributes().Get("service.name"); ok && s.hub != nil && name.Str() != "" {
			ep, flagged = s.hub.FlaggedService(name.Str(), s.cfg.EpisodeTail)
		}
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ss.Spans().RemoveIf(func(span ptrace.Span) bool {
				r := randomness(span.TraceID())
				switch {
				case r >= s.base:
					c.keptBase++
					return false
				case !flagged:
					c.droppedBase++
					return true
				case r >= s.episode:
					c.keptEpisode++
					span.Attributes().PutStr(AttrSamplingReason, reasonEpisode)
					span.Attributes().PutStr(AttrSamplingRule, ep.Rule)
					return false
				default:
					c.droppedEpisode++
					return true
				}
			})
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
	s.record(ctx, c)
	if td.ResourceSpans().Len() == 0 {
		return td, processorhelper.ErrSkipProcessingData
	}
	return td, nil
}

func (s *sampler) record(ctx context.Context, c counts) {
	add := func(counter metric.Int64Counter, n int64, reason string) {
		if n > 0 {
			counter.Add(ctx, n, metric.WithAttributes(attribute.String("reason", reason)))
		}
	}
	add(s.telemetry.ProcessorReadinessSamplerSpansKept, c.keptBase, reasonBase)
	add(s.telemetry.ProcessorReadinessSamplerSpansKept, c.keptEpisode, reasonEpisode)
	add(s.telemetry.ProcessorReadinessSamplerSpansDropped, c.droppedBase, reasonBase)
	add(s.telemetry.ProcessorReadinessSamplerSpansDropped, c.droppedEpisode, reasonEpisode)
}
