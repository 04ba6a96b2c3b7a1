// Package readinesshubextension is the place where the readiness processor publishes what it concludes: the
// episodes it starts, updates and ends, and a read-only view of every watched service. Components that act on
// these conclusions (the readiness sampler, the readiness page) find the hub through the host, the way the
// readiness processor finds the pprofcapture broker; none of them learns a service's state from telemetry data.
//
//go:generate mdatagen metadata.yaml
package readinesshubextension // import "github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
