package pprofcaptureextension // import "github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"

// Config of the pprofcapture extension. The broker has no settings: the capture limits (kinds allowed, rate limit,
// retention) belong to each pprofscrape receiver, which knows its targets.
type Config struct {
	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate checks the configuration; there is nothing to get wrong yet.
func (*Config) Validate() error { return nil }
