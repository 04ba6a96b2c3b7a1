package otlptxencodingextension // import "github.com/otelcol-ready/otelcol-ready/extension/encoding/otlptxencodingextension"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-ready/otelcol-ready/extension/encoding/otlptxencodingextension/internal/metadata"
)

// NewFactory returns the factory of the otlptx_encoding extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, createExtension, metadata.ExtensionStability)
}

func createExtension(_ context.Context, _ extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newExtension(cfg.(*Config))
}
