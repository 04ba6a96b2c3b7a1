//go:generate mdatagen metadata.yaml

// Package otlptxencodingextension provides the otlptx_encoding extension: it implements
// ptrace/pmetric/plog Marshaler and Unmarshaler with the OTLP-TX envelope (pkg/otlptx),
// the interfaces encoding-aware components (file exporter, ...) look up.
package otlptxencodingextension // import "github.com/otelcol-ready/otelcol-ready/extension/encoding/otlptxencodingextension"
