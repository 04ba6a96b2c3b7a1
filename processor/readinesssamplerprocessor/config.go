package readinesssamplerprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinesssamplerprocessor"

import (
	"errors"
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config is the readiness sampler's configuration.
type Config struct {
	// HubExtension names the readiness_hub extension that tells which services are flagged. When empty, the only
	// readiness_hub extension of the collector is used; the sampler fails to start without one.
	HubExtension *component.ID `mapstructure:"hub_extension"`
	// SamplingPercentage is the base rate: the share of traces kept for a service without an episode, in [0, 100].
	SamplingPercentage float64 `mapstructure:"sampling_percentage"`
	// EpisodeSamplingPercentage is the rate for a service with an active readiness episode (and for EpisodeTail
	// after it ended), in [sampling_percentage, 100].
	EpisodeSamplingPercentage float64 `mapstructure:"episode_sampling_percentage"`
	// EpisodeTail keeps the episode rate this long after an episode ended (collector clock).
	EpisodeTail time.Duration `mapstructure:"episode_tail"`

	_ struct{}
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration; the error names the bad field and a valid value.
func (cfg *Config) Validate() error {
	var errs []error
	valid := func(p float64) bool { return !math.IsNaN(p) && p >= 0 && p <= 100 }
	if !valid(cfg.SamplingPercentage) {
		errs = append(errs, fmt.Errorf("sampling_percentage: %g is not a percentage; use a value in [0, 100], e.g. 10", cfg.SamplingPercentage))
	}
	if !valid(cfg.EpisodeSamplingPercentage) {
		errs = append(errs, fmt.Errorf("episode_sampling_percentage: %g is not a percentage; use a value in [0, 100], e.g. 100", cfg.EpisodeSamplingPercentage))
	}
	if len(errs) == 0 && cfg.EpisodeSamplingPercentage < cfg.SamplingPercentage {
		errs = append(errs, fmt.Errorf("episode_sampling_percentage: %g is below sampling_percentage %g; a flagged service keeps at least the base rate, use a value >= %g",
			cfg.EpisodeSamplingPercentage, cfg.SamplingPercentage, cfg.SamplingPercentage))
	}
	if cfg.EpisodeTail < 0 {
		errs = append(errs, errors.New("episode_tail: must not be negative (e.g. 5m; 0 returns to the base rate when the episode ends)"))
	}
	return errors.Join(errs...)
}
