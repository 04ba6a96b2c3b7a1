package otlptxtest // import "github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"

import (
	"context"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
)

// Host is a component.Host offering a fixed set of extensions.
type Host struct {
	Extensions map[component.ID]component.Component
}

// GetExtensions implements component.Host.
func (h *Host) GetExtensions() map[component.ID]component.Component { return h.Extensions }

// FileStorageID is the ID under which StartFileStorage registers the extension.
var FileStorageID = component.MustNewID("file_storage")

// StartFileStorage starts the real contrib file_storage extension on dir and returns a
// host offering it as FileStorageID. The caller stops it with the returned function
// (after the components using it are shut down).
func StartFileStorage(t testing.TB, dir string) (*Host, func()) {
	t.Helper()
	factory := filestorage.NewFactory()
	cfg := factory.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	cfg.Compaction.Directory = dir
	ext, err := factory.Create(context.Background(), extensiontest.NewNopSettings(factory.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	host := &Host{Extensions: map[component.ID]component.Component{FileStorageID: ext}}
	return host, func() { require.NoError(t, ext.Shutdown(context.Background())) }
}
