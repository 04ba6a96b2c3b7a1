package otlptxexporter // import "github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter"

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configretry"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
)

// Config is the configuration of the otlptx exporter.
type Config struct {
	// ClientConfig is the HTTP client: endpoint, tls, headers, auth, timeout, ... Its
	// `compression` field selects the OTLP-TX envelope compression (snappy, zstd or
	// none) instead of an HTTP Content-Encoding.
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`

	// Endpoints lists further gateway base URLs. Batches are spread across `endpoint`
	// and every entry here; a failing endpoint is skipped for EndpointCooldown while
	// another one is available.
	Endpoints []string `mapstructure:"endpoints"`

	// EndpointCooldown is how long an endpoint that failed is avoided.
	EndpointCooldown time.Duration `mapstructure:"endpoint_cooldown"`

	// Balancing chooses how batches are spread over the endpoints: round_robin (each
	// batch starts at the next endpoint) or failover (always the first available one in
	// the configured order, so one sidecar keeps reaching the same gateway).
	Balancing string `mapstructure:"balancing"`

	// SenderID identifies this exporter to the receiver's duplicate suppression. Empty
	// means: generated once and kept in the storage extension (persistent queue), or
	// generated at each start (in-memory queue).
	SenderID string `mapstructure:"sender_id"`

	// FormatVersion is the OTLP-TX envelope format sent: 2 (columnar, the default) or 1
	// (OTLP requests). With 2, a gateway that answers 415 (a version-1 receiver) gets
	// version 1 for V2RetryInterval before version 2 is tried again; `compression: snappy`
	// selects s2 for version 2 (snappy's successor) and snappy for version 1.
	FormatVersion int `mapstructure:"format_version"`

	// V2RetryInterval is how long an endpoint that refused version 2 is sent version 1.
	V2RetryInterval time.Duration `mapstructure:"v2_retry_interval"`

	// Batch controls how signals are grouped into envelopes.
	Batch BatchConfig `mapstructure:"batch"`

	// Queue holds pipeline requests, then the batches formed from them, until delivered.
	Queue QueueConfig `mapstructure:"sending_queue"`

	// Retry controls re-sending of batches that failed with a retryable error.
	Retry configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// BatchConfig bounds the batches a sender forms from the queue. A sender takes whatever
// requests are queued when it is free, up to these limits: nothing waits for a batch to
// fill, neither the pipeline call nor the sender.
type BatchConfig struct {
	// MaxItems: a batch takes no further request once it holds this many spans + data
	// points + log records. A single request larger than this forms its own batch (never
	// split).
	MaxItems int `mapstructure:"max_items"`
	// MaxBytes: a batch takes no further request once its uncompressed OTLP payloads would
	// exceed this size. Keep it well under the receiver's max_request_body_size.
	MaxBytes int `mapstructure:"max_bytes"`
	// FlushTimeout: a sender forms a batch smaller than the limits once the oldest queued
	// request has waited this long (0: at once). Only the sender waits: a pipeline call
	// returns once its request is in the queue.
	FlushTimeout time.Duration `mapstructure:"flush_timeout"`
}

// QueueConfig configures the sending queue.
type QueueConfig struct {
	// QueueSize is the number of pipeline requests the queue holds (queued, or in a batch
	// not yet delivered). When it is full, WhenFull decides per signal.
	QueueSize int `mapstructure:"queue_size"`
	// NumConsumers is the number of batches sent concurrently.
	NumConsumers int `mapstructure:"num_consumers"`
	// Storage is the ID of a storage extension (for example file_storage). When set, each
	// pipeline request is written to it before the call returns, and batches are written
	// with their sequence number before their first attempt: both survive restarts.
	Storage *component.ID `mapstructure:"storage"`
	// WhenFull is the policy per signal when the queue is full.
	WhenFull WhenFullConfig `mapstructure:"when_full"`
}

// WhenFullConfig selects, per signal, what a full queue does with new data: refuse it
// with a retryable error (the caller keeps it and retries), or, for metrics only, drop
// the oldest queued metrics request to make room (the newest values matter most).
type WhenFullConfig struct {
	Traces  string `mapstructure:"traces"`
	Metrics string `mapstructure:"metrics"`
	Logs    string `mapstructure:"logs"`
}

const (
	policyRefuse     = "refuse"
	policyDropOldest = "drop_oldest"
)

var _ component.Config = (*Config)(nil)

const (
	balancingRoundRobin = "round_robin"
	balancingFailover   = "failover"
)

func createDefaultConfig() component.Config {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = 10 * time.Second
	client.Compression = configcompression.Type(otlptx.CompressionSnappy)
	return &Config{
		ClientConfig:     client,
		EndpointCooldown: 5 * time.Second,
		Balancing:        balancingRoundRobin,
		FormatVersion:    int(otlptx.FormatVersion2),
		V2RetryInterval:  10 * time.Minute,
		Batch: BatchConfig{
			MaxItems:     8192,
			MaxBytes:     1 << 20,
			FlushTimeout: 200 * time.Millisecond,
		},
		Queue: QueueConfig{
			QueueSize:    1000,
			NumConsumers: 4,
			WhenFull:     WhenFullConfig{Traces: policyRefuse, Metrics: policyRefuse, Logs: policyRefuse},
		},
		Retry: configretry.BackOffConfig{
			Enabled:             true,
			InitialInterval:     100 * time.Millisecond,
			MaxInterval:         5 * time.Second,
			MaxElapsedTime:      0,
			Multiplier:          1.5,
			RandomizationFactor: 0.5,
		},
	}
}

// Validate checks the configuration and names the field to fix.
func (cfg *Config) Validate() error {
	var errs []error
	endpoints := cfg.allEndpoints()
	if len(endpoints) == 0 {
		errs = append(errs, errors.New("no endpoint: set `endpoint` (and optionally `endpoints`) to the gateway's otlptx receiver, e.g. https://gateway:4320"))
	}
	for _, ep := range endpoints {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("endpoint %q: want an absolute http:// or https:// URL", ep))
		}
	}
	if err := cfg.compression().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("compression: %w", err))
	}
	if cfg.Balancing != balancingRoundRobin && cfg.Balancing != balancingFailover {
		errs = append(errs, fmt.Errorf("balancing %q: use %q or %q", cfg.Balancing, balancingRoundRobin, balancingFailover))
	}
	if cfg.EndpointCooldown < 0 {
		errs = append(errs, errors.New("endpoint_cooldown must not be negative"))
	}
	if len(cfg.SenderID) > otlptx.MaxSenderIDLength {
		errs = append(errs, fmt.Errorf("sender_id is %d bytes, at most %d allowed", len(cfg.SenderID), otlptx.MaxSenderIDLength))
	}
	if cfg.FormatVersion != int(otlptx.FormatVersion) && cfg.FormatVersion != int(otlptx.FormatVersion2) {
		errs = append(errs, fmt.Errorf("format_version %d: use 2 (default) or 1", cfg.FormatVersion))
	}
	if cfg.V2RetryInterval <= 0 {
		errs = append(errs, errors.New("v2_retry_interval must be positive (default 10m)"))
	}
	if cfg.Batch.MaxItems <= 0 {
		errs = append(errs, errors.New("batch.max_items must be positive (default 8192)"))
	}
	if cfg.Batch.MaxBytes <= 0 {
		errs = append(errs, errors.New("batch.max_bytes must be positive (default 1048576)"))
	}
	if cfg.Batch.FlushTimeout < 0 {
		errs = append(errs, errors.New("batch.flush_timeout must not be negative (default 200ms; 0 sends at once)"))
	}
	if cfg.Queue.QueueSize <= 0 {
		errs = append(errs, errors.New("sending_queue.queue_size must be positive (default 1000)"))
	}
	for _, p := range []struct {
		field, value string
		dropAllowed  bool
	}{
		{"traces", cfg.Queue.WhenFull.Traces, false},
		{"metrics", cfg.Queue.WhenFull.Metrics, true},
		{"logs", cfg.Queue.WhenFull.Logs, false},
	} {
		switch {
		case p.value == policyRefuse, p.value == policyDropOldest && p.dropAllowed:
		case p.value == policyDropOldest:
			errs = append(errs, fmt.Errorf("sending_queue.when_full.%s: %q is allowed for metrics only; use %q", p.field, p.value, policyRefuse))
		default:
			allowed := fmt.Sprintf("%q", policyRefuse)
			if p.dropAllowed {
				allowed += fmt.Sprintf(" or %q", policyDropOldest)
			}
			errs = append(errs, fmt.Errorf("sending_queue.when_full.%s %q: use %s", p.field, p.value, allowed))
		}
	}
	if cfg.Queue.NumConsumers <= 0 {
		errs = append(errs, errors.New("sending_queue.num_consumers must be positive (default 4)"))
	}
	if cfg.Retry.Enabled && cfg.Retry.InitialInterval <= 0 {
		errs = append(errs, errors.New("retry_on_failure.initial_interval must be positive when retries are enabled (default 100ms)"))
	}
	return errors.Join(errs...)
}

// compression is the envelope compression; an empty value means the default, snappy.
func (cfg *Config) compression() otlptx.Compression {
	if cfg.ClientConfig.Compression == "" {
		return otlptx.CompressionSnappy
	}
	return otlptx.Compression(cfg.ClientConfig.Compression)
}

// allEndpoints returns `endpoint` followed by `endpoints`, without empty entries.
func (cfg *Config) allEndpoints() []string {
	var out []string
	if cfg.ClientConfig.Endpoint != "" {
		out = append(out, cfg.ClientConfig.Endpoint)
	}
	for _, ep := range cfg.Endpoints {
		if ep != "" {
			out = append(out, ep)
		}
	}
	return out
}
