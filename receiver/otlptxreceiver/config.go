package otlptxreceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/otlptxreceiver"

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
)

// Config is the configuration of the otlptx receiver.
type Config struct {
	// ServerConfig is the HTTP server: endpoint, tls (with client_ca_file for mTLS),
	// auth, max_request_body_size (limit on the compressed body), timeouts, ...
	ServerConfig confighttp.ServerConfig `mapstructure:",squash"`

	// MaxDecodedSize is the largest envelope accepted after decompression, checked
	// against the size the compressed body declares before memory is allocated.
	MaxDecodedSize int `mapstructure:"max_decoded_size"`

	// RetryAfter is the Retry-After the receiver sends with 503 when a pipeline refuses
	// data with a retryable error or the same batch is being processed concurrently.
	RetryAfter time.Duration `mapstructure:"retry_after"`

	// Dedup configures duplicate suppression.
	Dedup DedupConfig `mapstructure:"dedup"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// DedupConfig configures duplicate suppression keyed by (sender id, sequence).
type DedupConfig struct {
	// Enabled turns duplicate suppression on.
	Enabled bool `mapstructure:"enabled"`
	// Window is how long an accepted batch is remembered.
	Window time.Duration `mapstructure:"window"`
	// MaxEntries bounds the number of remembered batches (memory: ~200 bytes each plus
	// the sender id); the oldest are forgotten first.
	MaxEntries int `mapstructure:"max_entries"`
	// Storage is the ID of a storage extension (for example file_storage). When set,
	// the remembered batches survive a restart of the receiver.
	Storage *component.ID `mapstructure:"storage"`
}

var _ component.Config = (*Config)(nil)

const defaultEndpoint = "localhost:4320"

func createDefaultConfig() component.Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = defaultEndpoint
	return &Config{
		ServerConfig:   server,
		MaxDecodedSize: 64 << 20,
		RetryAfter:     time.Second,
		Dedup: DedupConfig{
			Enabled:    true,
			Window:     30 * time.Minute,
			MaxEntries: 200_000,
		},
	}
}

// Validate checks the configuration and names the field to fix.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.MaxDecodedSize <= 0 {
		errs = append(errs, errors.New("max_decoded_size must be positive (default 67108864)"))
	}
	if cfg.RetryAfter < 0 {
		errs = append(errs, errors.New("retry_after must not be negative (default 1s)"))
	}
	if cfg.Dedup.Enabled {
		if cfg.Dedup.Window <= 0 {
			errs = append(errs, errors.New("dedup.window must be positive when dedup is enabled (default 30m)"))
		}
		if cfg.Dedup.MaxEntries <= 0 {
			errs = append(errs, errors.New("dedup.max_entries must be positive when dedup is enabled (default 200000)"))
		}
	} else if cfg.Dedup.Storage != nil {
		errs = append(errs, errors.New("dedup.storage is set but dedup.enabled is false: enable dedup or remove the storage"))
	}
	return errors.Join(errs...)
}
