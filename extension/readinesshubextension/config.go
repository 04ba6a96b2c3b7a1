package readinesshubextension // import "github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"

import "fmt"

// Config of the readiness_hub extension.
type Config struct {
	// MaxEpisodes bounds the ended episodes the hub remembers (the active ones are always kept).
	MaxEpisodes int `mapstructure:"max_episodes"`

	// prevent unkeyed literal initialization
	_ struct{}
}

const defaultMaxEpisodes = 256

// Validate rejects limits that would keep nothing or grow without bound.
func (cfg *Config) Validate() error {
	if cfg.MaxEpisodes < 1 || cfg.MaxEpisodes > 100_000 {
		return fmt.Errorf("max_episodes is %d: set it between 1 and 100000 (default %d)", cfg.MaxEpisodes, defaultMaxEpisodes)
	}
	return nil
}
