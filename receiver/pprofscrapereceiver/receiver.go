package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper"
	"go.opentelemetry.io/collector/scraper/scraperhelper"
	"go.uber.org/zap"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver/internal/metadata"
)

// pprofReceiver is the one instance behind both the metrics and the logs pipelines of a receiver ID: scraping feeds
// the metrics pipeline, captures feed the logs pipeline.
type pprofReceiver struct {
	cfg       *Config
	set       receiver.Settings
	telemetry *metadata.TelemetryBuilder

	mu           sync.Mutex
	metrics      component.Component // the scraper controller; nil without a metrics pipeline
	logsConsumer consumer.Logs       // nil without a logs pipeline

	startOnce    sync.Once
	startErr     error
	shutdownOnce sync.Once
	// stopScrapes cancels the requests in flight when the receiver shuts down.
	scrapeCtx   context.Context
	stopScrapes context.CancelFunc

	targets    []*target
	captures   *captureManager
	unregister func()
}

func newPprofReceiver(cfg *Config, set receiver.Settings) (*pprofReceiver, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("creating telemetry: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &pprofReceiver{cfg: cfg, set: set, telemetry: tb, scrapeCtx: ctx, stopScrapes: cancel}, nil
}

func (r *pprofReceiver) attachMetrics(next consumer.Metrics) error {
	sc, err := scraper.NewMetrics(r.scrapeAll)
	if err != nil {
		return err
	}
	controller, err := scraperhelper.NewMetricsController(&r.cfg.ControllerConfig, r.set, next,
		scraperhelper.AddMetricsScraper(metadata.Type, sc))
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.metrics = controller
	r.mu.Unlock()
	return nil
}

func (r *pprofReceiver) attachLogs(next consumer.Logs) {
	r.mu.Lock()
	r.logsConsumer = next
	r.mu.Unlock()
}

// Start builds one HTTP client per target, registers with the capture broker and starts scraping. The shared
// instance is started by the first pipeline only.
func (r *pprofReceiver) Start(ctx context.Context, host component.Host) error {
	r.startOnce.Do(func() { r.startErr = r.start(ctx, host) })
	return r.startErr
}

func (r *pprofReceiver) start(ctx context.Context, host component.Host) error {
	for i := range r.cfg.Targets {
		tc := &r.cfg.Targets[i]
		client, err := tc.ToClient(ctx, host.GetExtensions(), r.set.TelemetrySettings)
		if err != nil {
			return fmt.Errorf("targets[%d] (%s): building HTTP client: %w", i, tc.Endpoint, err)
		}
		t, err := newTarget(tc, r.cfg, client, r.set, r.telemetry)
		if err != nil {
			return fmt.Errorf("targets[%d]: %w", i, err)
		}
		r.targets = append(r.targets, t)
	}

	if r.cfg.Captures.Directory != "" {
		r.captures = newCaptureManager(&r.cfg.Captures, r.targets, r.set, r.telemetry, r.emitLogs)
		broker, err := pprofcaptureextension.FindBroker(host, r.cfg.Captures.Extension)
		switch {
		case err == nil:
			r.unregister = broker.Register(r.captures)
		case errors.Is(err, pprofcaptureextension.ErrNoBroker) && r.cfg.Captures.Extension == nil:
			r.set.Logger.Warn("Captures are configured but no pprofcapture extension runs: no component can request them")
		default:
			return fmt.Errorf("captures.extension: %w", err)
		}
	}

	r.mu.Lock()
	metrics := r.metrics
	r.mu.Unlock()
	if metrics != nil {
		return metrics.Start(ctx, host)
	}
	return nil
}

// Shutdown stops scraping (cancelling requests in flight) and unregisters from the broker.
func (r *pprofReceiver) Shutdown(ctx context.Context) error {
	var err error
	r.shutdownOnce.Do(func() {
		r.stopScrapes()
		if r.unregister != nil {
			r.unregister()
		}
		r.mu.Lock()
		metrics := r.metrics
		r.mu.Unlock()
		if metrics != nil {
			err = metrics.Shutdown(ctx)
		}
		if r.captures != nil {
			r.captures.shutdown()
		}
		for _, t := range r.targets {
			t.client.CloseIdleConnections()
		}
		r.telemetry.Shutdown()
	})
	return err
}

// scrapeAll scrapes every target, at most max_concurrent_scrapes at a time. Target failures show in each target's
// up metric and logs, so they are not returned as errors (which would log once per scrape).
func (r *pprofReceiver) scrapeAll(ctx context.Context) (pmetric.Metrics, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.scrapeCtx, cancel)
	defer stop()

	results := make([]pmetric.Metrics, len(r.targets))
	sem := make(chan struct{}, r.cfg.MaxConcurrentScrapes)
	var wg sync.WaitGroup
	for i, t := range r.targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = t.scrape(ctx)
		})
	}
	wg.Wait()

	out := pmetric.NewMetrics()
	for _, m := range results {
		if m.ResourceMetrics().Len() > 0 {
			m.ResourceMetrics().MoveAndAppendTo(out.ResourceMetrics())
		}
	}
	return out, ctx.Err()
}

func (r *pprofReceiver) emitLogs(ctx context.Context, logs pipelineLogs) {
	r.mu.Lock()
	next := r.logsConsumer
	r.mu.Unlock()
	if next == nil {
		return
	}
	if err := next.ConsumeLogs(ctx, logs); err != nil {
		r.set.Logger.Warn("Capture log record not delivered", zap.Error(err))
	}
}
