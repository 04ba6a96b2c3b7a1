package readinesshubextension // import "github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension"

	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension/internal/metadata"
)

// NewFactory returns the factory of the readiness_hub extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, createExtension, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{MaxEpisodes: defaultMaxEpisodes, Page: configoptional.Default(defaultPageConfig())}
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newHub(set, cfg.(*Config))
}
