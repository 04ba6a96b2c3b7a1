package readinesshubextension

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelcol-ready/otelcol-ready/internal/lifecycletest"
)

// With the page (an HTTP server) too.
func TestLifecycleWithPage(t *testing.T) {
	cfg, err := loadConfig(t, "readiness_hub/page")
	require.NoError(t, err)
	cfg.Page.Get().NetAddr.Endpoint = "127.0.0.1:0"
	lifecycletest.ShutdownTwiceAndWithoutStart(t, nil, func(ctx context.Context) (component.Component, error) {
		return NewFactory().Create(ctx, extensiontest.NewNopSettings(NewFactory().Type()), cfg)
	})
}
