package otlptxencodingextension

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otelcol-ready/otelcol-ready/extension/encoding/otlptxencodingextension/internal/metadata"
	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx/otlptxtest"
)

func newTestExtension(t *testing.T, comp otlptx.Compression, formatVersion ...int) *encodingExtension {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Compression = comp
	if len(formatVersion) > 0 {
		cfg.FormatVersion = formatVersion[0]
	}
	require.NoError(t, cfg.Validate())
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return ext.(*encodingExtension)
}

func TestMarshalUnmarshalEverySignal(t *testing.T) {
	for _, version := range []uint32{otlptx.FormatVersion, otlptx.FormatVersion2} {
		for _, comp := range []otlptx.Compression{otlptx.CompressionSnappy, otlptx.CompressionZstd, otlptx.CompressionNone} {
			t.Run(fmt.Sprintf("v%d/%s", version, comp), func(t *testing.T) {
				testMarshalUnmarshalEverySignal(t, version, comp)
			})
		}
	}
}

func testMarshalUnmarshalEverySignal(t *testing.T, version uint32, comp otlptx.Compression) {
	ext := newTestExtension(t, comp, int(version))
	gen := otlptxtest.NewGenerator(1)
	td, md, ld := gen.Traces(7), gen.Metrics(9), gen.Logs(5)

	buf, err := ext.MarshalTraces(td)
	require.NoError(t, err)
	gotTraces, err := ext.UnmarshalTraces(buf)
	require.NoError(t, err)
	assert.Equal(t, td, gotTraces)
	// The bytes are a real OTLP-TX envelope.
	codec, err := otlptx.NewCodec(0)
	require.NoError(t, err)
	defer codec.Close()
	env, err := codec.Decode(buf, comp)
	require.NoError(t, err)
	assert.Equal(t, uint64(7), env.Header.SpanCount)
	assert.Equal(t, version, env.Header.FormatVersion)
	assert.Equal(t, "otlptx_encoding", env.Header.SenderID)

	buf, err = ext.MarshalMetrics(md)
	require.NoError(t, err)
	gotMetrics, err := ext.UnmarshalMetrics(buf)
	require.NoError(t, err)
	assert.Equal(t, md, gotMetrics)

	buf, err = ext.MarshalLogs(ld)
	require.NoError(t, err)
	gotLogs, err := ext.UnmarshalLogs(buf)
	require.NoError(t, err)
	assert.Equal(t, ld, gotLogs)

	// Reading another signal from a logs envelope yields empty data, no error.
	emptyTraces, err := ext.UnmarshalTraces(buf)
	require.NoError(t, err)
	assert.Equal(t, 0, emptyTraces.SpanCount())
}

func TestUnmarshalRejectsBadInput(t *testing.T) {
	ext := newTestExtension(t, otlptx.CompressionSnappy)
	_, err := ext.UnmarshalTraces([]byte("garbage"))
	assert.ErrorIs(t, err, otlptx.ErrMalformed)
	_, err = ext.UnmarshalMetrics(nil)
	assert.Error(t, err)
	_, err = ext.UnmarshalLogs([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	assert.ErrorIs(t, err, otlptx.ErrTooLarge)
}

type host struct {
	extensions map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.extensions }

// TestFileExporterWritesOTLPTX runs the real contrib file exporter with this extension as
// its encoding and reads the file back with the extension.
func TestFileExporterWritesOTLPTX(t *testing.T) {
	ext := newTestExtension(t, otlptx.CompressionSnappy)
	encodingID := component.MustNewID("otlptx_encoding")
	path := filepath.Join(t.TempDir(), "out.otlptx")

	factory := fileexporter.NewFactory()
	cfg := factory.CreateDefaultConfig().(*fileexporter.Config)
	cfg.Path = path
	cfg.FormatType = "proto" // length-prefixed records: the envelope is binary
	cfg.Encoding = &encodingID
	exp, err := factory.CreateLogs(context.Background(), exportertest.NewNopSettings(factory.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host{extensions: map[component.ID]component.Component{encodingID: ext}}))
	gen := otlptxtest.NewGenerator(3)
	batches := []plog.Logs{gen.Logs(4), gen.Logs(6)}
	for _, ld := range batches {
		require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
	}
	require.NoError(t, exp.Shutdown(context.Background()))

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var got []plog.Logs
	for len(data) > 0 {
		require.GreaterOrEqual(t, len(data), 4)
		n := int(binary.BigEndian.Uint32(data))
		require.GreaterOrEqual(t, len(data), 4+n)
		ld, err := ext.UnmarshalLogs(data[4 : 4+n])
		require.NoError(t, err)
		got = append(got, ld)
		data = data[4+n:]
	}
	require.Len(t, got, len(batches))
	for i := range batches {
		assert.Equal(t, batches[i], got[i], fmt.Sprintf("record %d", i))
	}
}
