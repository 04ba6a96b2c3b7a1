package otlptxexporter // import "github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter"

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter/internal/metadata"
)

// exporterTelemetry records the metrics declared in metadata.yaml.
type exporterTelemetry struct {
	tb      *metadata.TelemetryBuilder
	signals [signalCount]metric.MeasurementOption
}

func newExporterTelemetry(set component.TelemetrySettings) (*exporterTelemetry, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, fmt.Errorf("create otlptx exporter telemetry: %w", err)
	}
	t := &exporterTelemetry{tb: tb}
	for sig := range signalCount {
		t.signals[sig] = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", sig.String())))
	}
	return t, nil
}

// registerQueue reports the queue's size, capacity and oldest item's age when read.
func (t *exporterTelemetry) registerQueue(q *queue, capacity int) error {
	if err := t.tb.RegisterOtlptxExporterQueueSizeCallback(func(_ context.Context, o metric.Int64Observer) error {
		held, _ := q.stats(time.Now())
		o.Observe(int64(held))
		return nil
	}); err != nil {
		return fmt.Errorf("register otlptx queue size: %w", err)
	}
	if err := t.tb.RegisterOtlptxExporterQueueCapacityCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(int64(capacity))
		return nil
	}); err != nil {
		return fmt.Errorf("register otlptx queue capacity: %w", err)
	}
	if err := t.tb.RegisterOtlptxExporterQueueOldestAgeCallback(func(_ context.Context, o metric.Float64Observer) error {
		_, age := q.stats(time.Now())
		o.Observe(age.Seconds())
		return nil
	}); err != nil {
		return fmt.Errorf("register otlptx queue oldest age: %w", err)
	}
	return nil
}

func (t *exporterTelemetry) queued(sig signal, items int64) {
	t.tb.OtlptxExporterItemsQueued.Add(context.Background(), items, t.signals[sig])
}

func (t *exporterTelemetry) refused(sig signal, items int64) {
	t.tb.OtlptxExporterItemsRefused.Add(context.Background(), items, t.signals[sig])
}

func (t *exporterTelemetry) dropped(sig signal, items int64, reason string) {
	t.tb.OtlptxExporterItemsDropped.Add(context.Background(), items, metric.WithAttributes(
		attribute.String("signal", sig.String()), attribute.String("reason", reason)))
}

func (t *exporterTelemetry) droppedBatch(b *queuedBatch, reason string) {
	for sig, n := range b.counts {
		if n > 0 {
			t.dropped(signal(sig), int64(n), reason)
		}
	}
}

func (t *exporterTelemetry) delivered(b *queuedBatch) {
	t.tb.OtlptxExporterBatchesSent.Add(context.Background(), 1)
	for sig, n := range b.counts {
		rejected := min(b.rejected[sig], n)
		if n > rejected {
			t.tb.OtlptxExporterItemsDelivered.Add(context.Background(), int64(n-rejected), t.signals[sig])
		}
		if rejected > 0 {
			t.dropped(signal(sig), int64(rejected), "rejected_by_gateway")
		}
	}
}

func (t *exporterTelemetry) failed(b *queuedBatch) {
	t.tb.OtlptxExporterBatchesFailed.Add(context.Background(), 1)
	t.droppedBatch(b, "batch_failed")
}

func (t *exporterTelemetry) retried() {
	t.tb.OtlptxExporterBatchesRetried.Add(context.Background(), 1)
}

func (t *exporterTelemetry) shutdown() { t.tb.Shutdown() }
