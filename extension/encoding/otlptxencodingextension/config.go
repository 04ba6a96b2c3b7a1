package otlptxencodingextension // import "github.com/otelcol-ready/otelcol-ready/extension/encoding/otlptxencodingextension"

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
)

// Config is the configuration of the otlptx_encoding extension.
type Config struct {
	// Compression of each envelope: snappy (default), zstd or none. Unmarshal expects
	// the same compression.
	Compression otlptx.Compression `mapstructure:"compression"`
	// SenderID is written into every envelope header (informational in files).
	SenderID string `mapstructure:"sender_id"`
	// MaxDecodedSize bounds one envelope after decompression when unmarshalling.
	MaxDecodedSize int `mapstructure:"max_decoded_size"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		Compression:    otlptx.CompressionSnappy,
		SenderID:       "otlptx_encoding",
		MaxDecodedSize: 64 << 20,
	}
}

// Validate checks the configuration and names the field to fix.
func (cfg *Config) Validate() error {
	var errs []error
	if err := cfg.Compression.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("compression: %w", err))
	}
	if len(cfg.SenderID) > otlptx.MaxSenderIDLength {
		errs = append(errs, fmt.Errorf("sender_id is %d bytes, at most %d allowed", len(cfg.SenderID), otlptx.MaxSenderIDLength))
	}
	if cfg.MaxDecodedSize <= 0 {
		errs = append(errs, errors.New("max_decoded_size must be positive (default 67108864)"))
	}
	return errors.Join(errs...)
}
