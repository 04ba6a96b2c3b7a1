// Package pprofscrapereceiver scrapes Go runtime metrics from net/http/pprof endpoints and captures profiles.
package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"
