package pprofcaptureextension // import "github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"

import (
	"fmt"
	"net"
	"time"
)

// Config of the pprofcapture extension. The capture limits (kinds allowed, rate limit, retention) belong to each
// pprofscrape receiver, which knows its targets; the broker only routes.
type Config struct {
	// Trigger, when set, serves an operator-facing HTTP endpoint that requests captures (off by default).
	Trigger *TriggerConfig `mapstructure:"trigger"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// TriggerConfig is the on-demand capture endpoint: POST /captures?service.name=..&service.instance.id=..&kind=heap.
// It binds to a loopback address only: anyone who can reach it can make the collector load its targets.
type TriggerConfig struct {
	// Endpoint is the loopback host:port to listen on, e.g. 127.0.0.1:13134.
	Endpoint string `mapstructure:"endpoint"`
	// RequestTimeout bounds one capture request (cpu, goroutine_delta, allocs_delta and heap_delta captures sample
	// for their duration).
	RequestTimeout time.Duration `mapstructure:"request_timeout"`

	// prevent unkeyed literal initialization
	_ struct{}
}

const defaultTriggerTimeout = 2 * time.Minute

// Validate rejects a trigger endpoint that is not a loopback address.
func (cfg *Config) Validate() error {
	if cfg.Trigger == nil {
		return nil
	}
	host, _, err := net.SplitHostPort(cfg.Trigger.Endpoint)
	if err != nil {
		return fmt.Errorf("trigger.endpoint %q: want host:port such as 127.0.0.1:13134: %w", cfg.Trigger.Endpoint, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("trigger.endpoint %q: must be a loopback address (127.0.0.1, ::1 or localhost)", cfg.Trigger.Endpoint)
	}
	if cfg.Trigger.RequestTimeout < 0 {
		return fmt.Errorf("trigger.request_timeout must not be negative")
	}
	return nil
}
