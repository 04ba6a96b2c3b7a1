package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver/internal/metadata"
)

const (
	defaultPathPrefix              = "/debug/pprof"
	defaultMaxBodySize             = 8 << 20
	defaultMaxConcurrentScrapes    = 8
	defaultHeapMemStatsInterval    = 5 * time.Minute
	defaultGoroutineTopStacks      = 10
	defaultGoroutineStacksInterval = 30 * time.Second
	defaultGoroutineMaxSites       = 50
	defaultGoroutineLeakInterval   = time.Minute
	defaultRequestTimeout          = 10 * time.Second

	defaultCaptureMinInterval     = 5 * time.Minute
	defaultCaptureDuration        = 10 * time.Second
	defaultCaptureMaxDuration     = 30 * time.Second
	defaultCaptureMaxFileSize     = 64 << 20
	defaultCaptureSummaryEntries  = 10
	defaultRetentionFilesPerTgt   = 20
	defaultRetentionBytesPerTgt   = 256 << 20
	defaultRetentionFiles         = 200
	defaultRetentionBytes         = 1 << 30
	defaultRetentionMaxAge        = 7 * 24 * time.Hour
	defaultCaptureRequestHeadroom = 10 * time.Second
)

// Config is the configuration of the pprofscrape receiver.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// Targets are the Go services to scrape.
	Targets []TargetConfig `mapstructure:"targets"`
	// RequestTimeout bounds each HTTP request of a scrape (not of a capture, see Captures).
	RequestTimeout time.Duration `mapstructure:"request_timeout"`
	// MaxBodySize is the largest response body read during a scrape; a larger body is an error, never buffered.
	MaxBodySize int64 `mapstructure:"max_body_size"`
	// MaxConcurrentScrapes bounds how many targets are scraped at the same time.
	MaxConcurrentScrapes int `mapstructure:"max_concurrent_scrapes"`
	// HeapMemStatsInterval is the minimum interval between two reads of heap?debug=1 for the MemStats of a target
	// that serves no expvar /debug/vars. That page costs the target a stop-the-world and a symbolised dump.
	HeapMemStatsInterval time.Duration `mapstructure:"heap_memstats_interval"`
	// GoroutineStacksInterval is the minimum interval between two reads of goroutine?debug=1 for the stack
	// groups and the per-site counts. That page walks every goroutine's stack in the target (about 1.5 ms of
	// target CPU per 1,000 goroutines per read); the goroutine count itself comes from the cheap index page at
	// every scrape. The first scrape of a target always reads it.
	GoroutineStacksInterval time.Duration `mapstructure:"goroutine_stacks_interval"`
	// GoroutineLeakInterval is the minimum interval between two reads of goroutineleak?debug=1. Each read makes
	// the target run a full GC cycle with leak detection.
	GoroutineLeakInterval time.Duration `mapstructure:"goroutine_leak_interval"`
	// GoroutineTopStacks is how many grouped stacks (the largest) are emitted as pprofscrape.goroutine.stack.count.
	GoroutineTopStacks int `mapstructure:"goroutine_top_stacks"`
	// GoroutineMaxSites bounds the owner functions emitted as pprofscrape.goroutine.site.count per target; the
	// goroutines of the other sites are summed into code.function "(other)". A site once emitted keeps its slot
	// while it has goroutines.
	GoroutineMaxSites int `mapstructure:"goroutine_max_sites"`
	// Captures configures on-demand profile captures.
	Captures CapturesConfig `mapstructure:"captures"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// TargetConfig is one scraped Go service.
type TargetConfig struct {
	// ClientConfig holds endpoint (base URL such as http://localhost:6060), TLS, headers, auth and the other
	// confighttp client settings.
	confighttp.ClientConfig `mapstructure:",squash"`
	// PathPrefix is where net/http/pprof is mounted.
	PathPrefix string `mapstructure:"path_prefix"`
	// ExpvarPath is where expvar is mounted; empty disables expvar.
	ExpvarPath *string `mapstructure:"expvar_path"`
	// ServiceName is used when the target does not report a service.name through expvar.
	ServiceName string `mapstructure:"service_name"`
	// ServiceInstanceID is used when the target does not report a service.instance.id through expvar.
	ServiceInstanceID string `mapstructure:"service_instance_id"`
	// Attributes are added to the target's resource.
	Attributes map[string]string `mapstructure:"attributes"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// CapturesConfig configures on-demand captures.
type CapturesConfig struct {
	// Directory receives the captured profiles; empty disables captures.
	Directory string `mapstructure:"directory"`
	// AllowedKinds are the kinds a request may ask for.
	AllowedKinds []pprofcaptureextension.Kind `mapstructure:"allowed_kinds"`
	// MinInterval is the minimum time between two accepted requests for one target.
	MinInterval time.Duration `mapstructure:"min_interval"`
	// DefaultDuration is the sampling time of cpu, goroutine_delta, allocs_delta and heap_delta when the request
	// gives none.
	DefaultDuration time.Duration `mapstructure:"default_duration"`
	// MaxDuration caps the sampling time of the sampled kinds. Keep it below the target's HTTP WriteTimeout.
	MaxDuration time.Duration `mapstructure:"max_duration"`
	// MaxFileSize is the largest profile written; a larger body aborts the capture.
	MaxFileSize int64 `mapstructure:"max_file_size"`
	// Timeout bounds each capture request on top of its sampling duration.
	Timeout time.Duration `mapstructure:"timeout"`
	// SummaryEntries is how many top entries a capture's summary lists.
	SummaryEntries int `mapstructure:"summary_entries"`
	// Retention bounds what the directory keeps.
	Retention RetentionConfig `mapstructure:"retention"`
	// Extension names the pprofcapture extension to register with; empty uses the only one configured, if any.
	Extension *component.ID `mapstructure:"extension"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// RetentionConfig bounds the captures kept on disk; the oldest files are evicted first.
type RetentionConfig struct {
	MaxFilesPerTarget int           `mapstructure:"max_files_per_target"`
	MaxBytesPerTarget int64         `mapstructure:"max_bytes_per_target"`
	MaxFiles          int           `mapstructure:"max_files"`
	MaxBytes          int64         `mapstructure:"max_bytes"`
	MaxAge            time.Duration `mapstructure:"max_age"`

	// prevent unkeyed literal initialization
	_ struct{}
}

func createDefaultConfig() component.Config {
	controller := scraperhelper.NewDefaultControllerConfig()
	controller.CollectionInterval = 30 * time.Second
	return &Config{
		ControllerConfig:        controller,
		MetricsBuilderConfig:    metadata.DefaultMetricsBuilderConfig(),
		RequestTimeout:          defaultRequestTimeout,
		MaxBodySize:             defaultMaxBodySize,
		MaxConcurrentScrapes:    defaultMaxConcurrentScrapes,
		HeapMemStatsInterval:    defaultHeapMemStatsInterval,
		GoroutineTopStacks:      defaultGoroutineTopStacks,
		GoroutineMaxSites:       defaultGoroutineMaxSites,
		GoroutineStacksInterval: defaultGoroutineStacksInterval,
		GoroutineLeakInterval:   defaultGoroutineLeakInterval,
		Captures: CapturesConfig{
			AllowedKinds: []pprofcaptureextension.Kind{
				pprofcaptureextension.KindHeap,
				pprofcaptureextension.KindGoroutine,
				pprofcaptureextension.KindGoroutineDelta,
				pprofcaptureextension.KindGoroutineLeak,
				pprofcaptureextension.KindAllocsDelta,
				pprofcaptureextension.KindHeapDelta,
			},
			MinInterval:     defaultCaptureMinInterval,
			DefaultDuration: defaultCaptureDuration,
			MaxDuration:     defaultCaptureMaxDuration,
			MaxFileSize:     defaultCaptureMaxFileSize,
			Timeout:         defaultCaptureRequestHeadroom,
			SummaryEntries:  defaultCaptureSummaryEntries,
			Retention: RetentionConfig{
				MaxFilesPerTarget: defaultRetentionFilesPerTgt,
				MaxBytesPerTarget: defaultRetentionBytesPerTgt,
				MaxFiles:          defaultRetentionFiles,
				MaxBytes:          defaultRetentionBytes,
				MaxAge:            defaultRetentionMaxAge,
			},
		},
	}
}

// Validate names the bad field and how to fix it.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.MaxBodySize <= 0 {
		errs = append(errs, errors.New("max_body_size must be positive (e.g. 8388608)"))
	}
	if cfg.MaxConcurrentScrapes <= 0 {
		errs = append(errs, errors.New("max_concurrent_scrapes must be at least 1"))
	}
	if cfg.RequestTimeout <= 0 {
		errs = append(errs, errors.New("request_timeout must be positive (e.g. 10s)"))
	}
	if cfg.HeapMemStatsInterval < 0 {
		errs = append(errs, errors.New("heap_memstats_interval must not be negative"))
	}
	if cfg.GoroutineStacksInterval < 0 {
		errs = append(errs, errors.New("goroutine_stacks_interval must not be negative (0 reads the stacks at every scrape)"))
	}
	if cfg.GoroutineLeakInterval < 0 {
		errs = append(errs, errors.New("goroutine_leak_interval must not be negative"))
	}
	if cfg.GoroutineTopStacks < 0 {
		errs = append(errs, errors.New("goroutine_top_stacks must not be negative (0 disables the stacks)"))
	}
	if cfg.GoroutineMaxSites < 1 {
		errs = append(errs, errors.New("goroutine_max_sites must be at least 1 (e.g. 50); disable the metric pprofscrape.goroutine.site.count instead"))
	}
	seen := map[string]int{}
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		if _, _, err := t.hostPort(); err != nil {
			errs = append(errs, fmt.Errorf("targets[%d].endpoint: %w", i, err))
			continue
		}
		if j, dup := seen[t.Endpoint+t.pathPrefix()]; dup {
			errs = append(errs, fmt.Errorf("targets[%d].endpoint %q repeats targets[%d]: remove one", i, t.Endpoint, j))
		}
		seen[t.Endpoint+t.pathPrefix()] = i
		if t.PathPrefix != "" && !strings.HasPrefix(t.PathPrefix, "/") {
			errs = append(errs, fmt.Errorf("targets[%d].path_prefix %q must start with '/'", i, t.PathPrefix))
		}
		if t.ExpvarPath != nil && *t.ExpvarPath != "" && !strings.HasPrefix(*t.ExpvarPath, "/") {
			errs = append(errs, fmt.Errorf("targets[%d].expvar_path %q must start with '/' (or be empty to disable expvar)", i, *t.ExpvarPath))
		}
		if err := t.ClientConfig.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("targets[%d]: %w", i, err))
		}
	}
	errs = append(errs, cfg.Captures.validate()...)
	return errors.Join(errs...)
}

func (c *CapturesConfig) validate() []error {
	var errs []error
	known := pprofcaptureextension.Kinds()
	for i, k := range c.AllowedKinds {
		if !slices.Contains(known, k) {
			errs = append(errs, fmt.Errorf("captures.allowed_kinds[%d] %q is unknown: use one of %v", i, k, known))
		}
	}
	if c.MinInterval < 0 {
		errs = append(errs, errors.New("captures.min_interval must not be negative"))
	}
	if c.DefaultDuration <= 0 || c.MaxDuration <= 0 {
		errs = append(errs, errors.New("captures.default_duration and captures.max_duration must be positive"))
	} else if c.DefaultDuration > c.MaxDuration {
		errs = append(errs, fmt.Errorf("captures.default_duration %s exceeds captures.max_duration %s: lower it", c.DefaultDuration, c.MaxDuration))
	}
	if c.MaxFileSize <= 0 {
		errs = append(errs, errors.New("captures.max_file_size must be positive"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("captures.timeout must be positive"))
	}
	if c.SummaryEntries <= 0 {
		errs = append(errs, errors.New("captures.summary_entries must be at least 1"))
	}
	r := c.Retention
	if r.MaxFilesPerTarget <= 0 || r.MaxFiles <= 0 || r.MaxBytesPerTarget <= 0 || r.MaxBytes <= 0 || r.MaxAge <= 0 {
		errs = append(errs, errors.New("captures.retention: max_files_per_target, max_bytes_per_target, max_files, max_bytes and max_age must all be positive"))
	}
	if c.Directory != "" {
		if abs, err := filepath.Abs(c.Directory); err != nil || abs == string(os.PathSeparator) {
			errs = append(errs, fmt.Errorf("captures.directory %q: choose a dedicated directory (old files there are evicted)", c.Directory))
		}
	}
	return errs
}

func (t *TargetConfig) pathPrefix() string {
	if t.PathPrefix == "" {
		return defaultPathPrefix
	}
	return strings.TrimSuffix(t.PathPrefix, "/")
}

// expvarPath is /debug/vars unless configured; "" disables expvar.
func (t *TargetConfig) expvarPath() string {
	if t.ExpvarPath == nil {
		return "/debug/vars"
	}
	return *t.ExpvarPath
}

// hostPort parses the endpoint and returns its host and port (the scheme's default port when absent).
func (t *TargetConfig) hostPort() (string, int64, error) {
	if t.Endpoint == "" {
		return "", 0, errors.New("is required (e.g. http://localhost:6060)")
	}
	u, err := url.Parse(t.Endpoint)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not a URL: %w", t.Endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", 0, fmt.Errorf("%q must start with http:// or https://", t.Endpoint)
	}
	if u.Host == "" {
		return "", 0, fmt.Errorf("%q has no host", t.Endpoint)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", 0, fmt.Errorf("%q must not have a query or fragment: put the path in path_prefix", t.Endpoint)
	}
	host, portStr, err := net.SplitHostPort(u.Host)
	if err != nil {
		host = u.Hostname()
		portStr = "80"
		if u.Scheme == "https" {
			portStr = "443"
		}
	}
	port, err := strconv.ParseInt(portStr, 10, 64)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q has an invalid port", t.Endpoint)
	}
	return host, port, nil
}
