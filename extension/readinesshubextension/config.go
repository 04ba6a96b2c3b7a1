package readinesshubextension // import "github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
)

// Config of the readiness_hub extension.
type Config struct {
	// MaxEpisodes bounds the ended episodes the hub remembers (the active ones are always kept).
	MaxEpisodes int `mapstructure:"max_episodes"`

	// Page serves the readiness page (overview, service pages, captures, the pprof view, a JSON API). Absent: no
	// page and no listener.
	Page configoptional.Optional[PageConfig] `mapstructure:"page"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// PageConfig is the readiness page's server.
type PageConfig struct {
	// ServerConfig is the HTTP server: endpoint (default localhost:13135, loopback), TLS, auth extensions.
	confighttp.ServerConfig `mapstructure:",squash"`

	// URL is the address people reach the page at, for links in notifications (EpisodeURL); default
	// http(s)://<endpoint>. Set it when the page is reached through a port-forward, proxy or ingress.
	URL string `mapstructure:"url"`

	// Refresh is how often an open page reloads itself.
	Refresh time.Duration `mapstructure:"refresh"`

	// SourceDirectories are the directories whose files pprof's source view may show (a profile names files of the
	// service's build; those under one of these directories are read on the collector's machine). Empty: the
	// source view lists no file text.
	SourceDirectories []string `mapstructure:"source_directories"`

	// CaptureNow lets an operator ask for captures from the service page, through the pprofcapture broker (its
	// allowed kinds and rate limits apply). `capture_now: {enabled: false}` turns it off.
	CaptureNow configoptional.Optional[CaptureNowConfig] `mapstructure:"capture_now"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// CaptureNowConfig is the operator's "capture now" on the service page.
type CaptureNowConfig struct {
	// Kinds are the capture kinds offered (the receiver's allowed kinds still apply).
	Kinds []pprofcaptureextension.Kind `mapstructure:"kinds"`
	// CaptureExtension names the pprofcapture extension; empty: the only one present.
	CaptureExtension *component.ID `mapstructure:"capture_extension"`
	// Timeout bounds one capture request (sampled kinds take their duration).
	Timeout time.Duration `mapstructure:"timeout"`

	// prevent unkeyed literal initialization
	_ struct{}
}

const (
	defaultMaxEpisodes  = 256
	defaultPageEndpoint = "localhost:13135"
	defaultRefresh      = 15 * time.Second
	defaultCaptureTO    = 90 * time.Second
)

func defaultPageConfig() PageConfig {
	srv := confighttp.NewDefaultServerConfig()
	srv.NetAddr.Endpoint = defaultPageEndpoint
	return PageConfig{
		ServerConfig: srv,
		Refresh:      defaultRefresh,
		CaptureNow: configoptional.Some(CaptureNowConfig{
			Kinds:   []pprofcaptureextension.Kind{pprofcaptureextension.KindHeap, pprofcaptureextension.KindGoroutine, pprofcaptureextension.KindGoroutineDelta, pprofcaptureextension.KindCPU},
			Timeout: defaultCaptureTO,
		}),
	}
}

// Validate rejects limits that would keep nothing or grow without bound, and page settings that cannot work.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.MaxEpisodes < 1 || cfg.MaxEpisodes > 100_000 {
		errs = append(errs, fmt.Errorf("max_episodes is %d: set it between 1 and 100000 (default %d)", cfg.MaxEpisodes, defaultMaxEpisodes))
	}
	if pc := cfg.Page.Get(); pc != nil {
		if pc.NetAddr.Endpoint == "" {
			errs = append(errs, fmt.Errorf("page::endpoint is empty: set host:port, e.g. %s", defaultPageEndpoint))
		}
		if pc.Refresh < time.Second {
			errs = append(errs, fmt.Errorf("page::refresh is %s: set at least 1s (default %s)", pc.Refresh, defaultRefresh))
		}
		if pc.URL != "" {
			if u, err := url.Parse(pc.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("page::url is %q: set an absolute http(s) URL such as http://localhost:13135", pc.URL))
			}
		}
		for _, d := range pc.SourceDirectories {
			if st, err := os.Stat(d); err != nil || !st.IsDir() {
				errs = append(errs, fmt.Errorf("page::source_directories: %q is not a directory: list directories holding the services' sources, or none", d))
			}
		}
		if cn := pc.CaptureNow.Get(); cn != nil {
			if len(cn.Kinds) == 0 {
				errs = append(errs, errors.New("page::capture_now::kinds is empty: list the kinds to offer, or set capture_now::enabled: false"))
			}
			for _, k := range cn.Kinds {
				if !isKind(k) {
					errs = append(errs, fmt.Errorf("page::capture_now::kinds: unknown kind %q; use one of %v", k, pprofcaptureextension.Kinds()))
				}
			}
			if cn.Timeout <= 0 {
				errs = append(errs, fmt.Errorf("page::capture_now::timeout is %s: set a positive duration (default %s)", cn.Timeout, defaultCaptureTO))
			}
		}
	}
	return errors.Join(errs...)
}

func isKind(k pprofcaptureextension.Kind) bool {
	for _, known := range pprofcaptureextension.Kinds() {
		if k == known {
			return true
		}
	}
	return false
}

var _ confmap.Unmarshaler = (*PageConfig)(nil)

// pageSettings are the page's keys next to the server's.
type pageSettings struct {
	URL               string                                    `mapstructure:"url"`
	Refresh           time.Duration                             `mapstructure:"refresh"`
	SourceDirectories []string                                  `mapstructure:"source_directories"`
	CaptureNow        configoptional.Optional[CaptureNowConfig] `mapstructure:"capture_now"`
}

// Unmarshal decodes the page section. Without it the embedded ServerConfig's Unmarshal, promoted to PageConfig,
// would decode the server fields only and drop url, refresh and capture_now.
func (pc *PageConfig) Unmarshal(conf *confmap.Conf) error {
	if err := pc.ServerConfig.Unmarshal(conf); err != nil {
		return err
	}
	rest := pageSettings{pc.URL, pc.Refresh, pc.SourceDirectories, pc.CaptureNow}
	// The server's keys are decoded above; every other key must be one of the page's (a typo is an error).
	own := conf.ToStringMap()
	for _, k := range mapstructureKeys(reflect.TypeFor[confighttp.ServerConfig]()) {
		delete(own, k)
	}
	if err := confmap.NewFromStringMap(own).Unmarshal(&rest); err != nil {
		return err
	}
	pc.URL, pc.Refresh, pc.SourceDirectories, pc.CaptureNow = rest.URL, rest.Refresh, rest.SourceDirectories, rest.CaptureNow
	return nil
}

// mapstructureKeys lists the configuration keys of a struct type, squashed fields included.
func mapstructureKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		switch {
		case strings.Contains(opts, "squash") && f.Type.Kind() == reflect.Struct:
			keys = append(keys, mapstructureKeys(f.Type)...)
		case name != "" && name != "-":
			keys = append(keys, name)
		}
	}
	return keys
}
