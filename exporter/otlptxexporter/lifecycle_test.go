package otlptxexporter

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otelcol-ready/otelcol-ready/internal/lifecycletest"
)

// TestLifecycleShutdownTwiceAndWithoutStart runs the same check as every other component of the project, with the
// metadata.yaml test configuration, per signal.
func TestLifecycleShutdownTwiceAndWithoutStart(t *testing.T) {
	factory := NewFactory()
	cfg := lifecycletest.MetadataConfig(t, factory)
	set := exportertest.NewNopSettings(factory.Type())
	for name, create := range map[string]func(context.Context) (component.Component, error){
		"traces":  func(ctx context.Context) (component.Component, error) { return factory.CreateTraces(ctx, set, cfg) },
		"metrics": func(ctx context.Context) (component.Component, error) { return factory.CreateMetrics(ctx, set, cfg) },
		"logs":    func(ctx context.Context) (component.Component, error) { return factory.CreateLogs(ctx, set, cfg) },
	} {
		t.Run(name, func(t *testing.T) { lifecycletest.ShutdownTwiceAndWithoutStart(t, nil, create) })
	}
}
