// Package promscrapereceiver scrapes the Prometheus exposition of a few fixed targets (a client_golang /metrics
// handler) into OTLP metrics. It is the sidecar's light alternative to the prometheus receiver: no service
// discovery, no relabelling, no Prometheus scrape manager, so none of their dependencies in the binary.
//
//go:generate mdatagen metadata.yaml
package promscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/promscrapereceiver"
