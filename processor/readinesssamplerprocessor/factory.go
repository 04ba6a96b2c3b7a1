package readinesssamplerprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinesssamplerprocessor"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-ready/otelcol-ready/processor/readinesssamplerprocessor/internal/metadata"
)

// NewFactory returns the factory of the readiness sampler.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(createTracesProcessor, metadata.TracesStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		SamplingPercentage:        100,
		EpisodeSamplingPercentage: 100,
		EpisodeTail:               5 * time.Minute,
	}
}

func createTracesProcessor(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	s, err := newSampler(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, s.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(s.start),
		processorhelper.WithShutdown(s.shutdown),
	)
}
