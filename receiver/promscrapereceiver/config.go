package promscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/promscrapereceiver"

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/scraper/scraperhelper"
)

const (
	defaultMetricsPath = "/metrics"
	defaultMaxBodySize = 16 << 20
	defaultTimeout     = 5 * time.Second
)

// Config is the configuration of the promscrape receiver.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`

	// Targets are the endpoints to scrape, each a Prometheus exposition served over HTTP.
	Targets []TargetConfig `mapstructure:"targets"`
	// MaxBodySize is the largest response read from a target; a larger one fails that target's scrape instead of
	// being buffered.
	MaxBodySize int64 `mapstructure:"max_body_size"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// TargetConfig is one scraped endpoint.
type TargetConfig struct {
	// ClientConfig holds the endpoint (scheme, host and port; a URL without a path gets /metrics), TLS, headers
	// and auth of the requests.
	confighttp.ClientConfig `mapstructure:",squash"`
	// ServiceName sets service.name on the target's metrics; empty means the endpoint's host:port.
	ServiceName string `mapstructure:"service_name"`
	// ServiceInstanceID sets service.instance.id; empty means the endpoint's host:port.
	ServiceInstanceID string `mapstructure:"service_instance_id"`
}

func createDefaultConfig() *Config {
	cc := scraperhelper.NewDefaultControllerConfig()
	cc.Timeout = defaultTimeout
	return &Config{ControllerConfig: cc, MaxBodySize: defaultMaxBodySize}
}

// Validate checks every target's endpoint and the limits.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxBodySize <= 0 {
		errs = append(errs, fmt.Errorf("max_body_size must be positive, got %d", c.MaxBodySize))
	}
	seen := map[string]int{}
	for i, t := range c.Targets {
		u, err := t.scrapeURL()
		if err != nil {
			errs = append(errs, fmt.Errorf("targets[%d]: %w", i, err))
			continue
		}
		if j, dup := seen[u.String()]; dup {
			errs = append(errs, fmt.Errorf("targets[%d]: %s is already targets[%d]: scrape each endpoint once", i, u, j))
		}
		seen[u.String()] = i
	}
	return errors.Join(errs...)
}

// scrapeURL is the endpoint with /metrics added when it names no path.
func (t *TargetConfig) scrapeURL() (*url.URL, error) {
	if t.Endpoint == "" {
		return nil, errors.New("endpoint is empty: set it to the service's metrics URL, e.g. http://localhost:6060/metrics")
	}
	u, err := url.Parse(t.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", t.Endpoint, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("endpoint %q must be an http:// or https:// URL with a host, e.g. http://localhost:6060/metrics", t.Endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = defaultMetricsPath
	}
	return u, nil
}
