package pprofcaptureextension // import "github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension/internal/metadata"
)

// NewFactory returns the factory of the pprofcapture extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, createExtension, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{}
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newBroker(set.Logger, cfg.(*Config)), nil
}
