package otlptxencodingextension // import "github.com/otelcol-ready/otelcol-ready/extension/encoding/otlptxencodingextension"

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
)

// Config is the configuration of the otlptx_encoding extension.
type Config struct {
	// Compression of each envelope: snappy (default; s2 for format version 2), zstd or
	// none. Unmarshal expects the same compression for version 1; a version-2 envelope
	// names its compression itself.
	Compression otlptx.Compression `mapstructure:"compression"`
	// FormatVersion of the envelopes written: 2 (columnar, default) or 1. Unmarshal
	// reads both.
	FormatVersion int `mapstructure:"format_version"`
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
		FormatVersion:  int(otlptx.FormatVersion2),
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
	if cfg.FormatVersion != int(otlptx.FormatVersion) && cfg.FormatVersion != int(otlptx.FormatVersion2) {
		errs = append(errs, fmt.Errorf("format_version %d: use 2 (default) or 1", cfg.FormatVersion))
	}
	if len(cfg.SenderID) > otlptx.MaxSenderIDLength {
		errs = append(errs, fmt.Errorf("sender_id is %d bytes, at most %d allowed", len(cfg.SenderID), otlptx.MaxSenderIDLength))
	}
	if cfg.MaxDecodedSize <= 0 {
		errs = append(errs, errors.New("max_decoded_size must be positive (default 67108864)"))
	}
	return errors.Join(errs...)
}
