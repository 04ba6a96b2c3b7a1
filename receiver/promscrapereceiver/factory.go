package promscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/promscrapereceiver"

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-ready/otelcol-ready/receiver/promscrapereceiver/internal/metadata"
)

// NewFactory returns the factory of the promscrape receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

// createMetrics runs the scraper under the core scraper controller (collection_interval, initial_delay, timeout
// and the scraper's own telemetry come from there).
func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	c := cfg.(*Config)
	s := newPromScraper(c, set)
	sc, err := scraper.NewMetrics(s.scrape, scraper.WithStart(s.start), scraper.WithShutdown(s.shutdown))
	if err != nil {
		return nil, fmt.Errorf("creating the promscrape scraper: %w", err)
	}
	controller, err := scraperhelper.NewMetricsController(&c.ControllerConfig, set, next, scraperhelper.AddMetricsScraper(metadata.Type, sc))
	if err != nil {
		return nil, err
	}
	return &shutdownOnce{Metrics: controller}, nil
}

// shutdownOnce makes a second Shutdown a no-op: the core scraper controller closes a channel in Shutdown and
// panics when it is called twice.
type shutdownOnce struct {
	receiver.Metrics
	once sync.Once
	err  error
}

func (s *shutdownOnce) Shutdown(ctx context.Context) error {
	s.once.Do(func() { s.err = s.Metrics.Shutdown(ctx) })
	return s.err
}
