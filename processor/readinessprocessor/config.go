package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
)

// Rule kinds.
const (
	KindGCFrequency     = "gc_frequency"
	KindGoroutineGrowth = "goroutine_growth"
	KindHeapGrowth      = "heap_growth"
	KindThreshold       = "threshold"
)

// Rule actions.
const (
	ActionCapture  = "capture"
	ActionAnnotate = "annotate"
)

// Config is the readiness processor's configuration.
type Config struct {
	// CaptureExtension names the pprofcapture extension that performs captures. When empty and a rule uses the
	// capture action, the only pprofcapture extension of the collector is used.
	CaptureExtension *component.ID `mapstructure:"capture_extension"`
	// HubExtension names the readiness_hub extension the processor publishes its episodes and its view of the
	// watched services to. When empty, the only readiness_hub extension of the collector is used, if any.
	HubExtension *component.ID `mapstructure:"hub_extension"`
	// EvaluationInterval is how often (in data time) the windowed rules of a series are evaluated.
	EvaluationInterval time.Duration `mapstructure:"evaluation_interval"`
	// AnnotateInterval is how often (in data time) the annotate action reports the state of a series' rules when it
	// does not change; every start and end is reported in the batch that causes it. Zero reports on every batch.
	AnnotateInterval time.Duration `mapstructure:"annotate_interval"`
	// MaxSeries bounds the number of tracked resource identities; points of new series beyond it are skipped.
	MaxSeries int `mapstructure:"max_series"`
	// MaxHistoryPoints bounds the samples kept per signal and series; denser data is thinned.
	MaxHistoryPoints int `mapstructure:"max_history_points"`
	// IdleTimeout evicts a series that received no point for this long (collector clock).
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxGap is the longest distance between two samples of a cumulative counter that still counts as continuous.
	MaxGap time.Duration `mapstructure:"max_gap"`
	// CaptureQueueSize bounds the capture requests waiting for the capture worker; more are refused.
	CaptureQueueSize int `mapstructure:"capture_queue_size"`
	// CaptureTimeout bounds one capture request (all its kinds).
	CaptureTimeout time.Duration `mapstructure:"capture_timeout"`
	// Rules are evaluated for every series. Empty: the default rules (goroutine growth, heap growth, GC
	// frequency, each with capture and annotate).
	Rules []RuleConfig `mapstructure:"rules"`
	// Notify holds the targets of the notify action (notify.go). When a target is set, the default rules notify too.
	Notify NotifyConfig `mapstructure:"notify"`

	_ struct{}
}

// RuleConfig is one readiness rule.
type RuleConfig struct {
	Name     string `mapstructure:"name"`
	Kind     string `mapstructure:"kind"`
	Severity string `mapstructure:"severity"`
	// Cooldown is the minimum time (data time) between the end of an episode and the start of the next one.
	Cooldown time.Duration `mapstructure:"cooldown"`
	// Window is the evaluation window of gc_frequency, goroutine_growth and heap_growth.
	Window time.Duration `mapstructure:"window"`
	// Params are the kind-specific parameters.
	Params RuleParams `mapstructure:"params"`
	// Actions taken when an episode starts: capture, annotate and/or notify. Start and end are always logged.
	Actions []string `mapstructure:"actions"`
	// Capture configures the capture action.
	Capture CaptureActionConfig `mapstructure:"capture"`

	_ struct{}
}

// CaptureActionConfig selects what is captured when a rule fires.
type CaptureActionConfig struct {
	// Kinds of captures; default per rule kind (goroutine_growth: goroutine, goroutine_delta, heap; others: heap).
	Kinds []pprofcaptureextension.Kind `mapstructure:"kinds"`
	// Duration of the goroutine_delta and cpu captures; zero uses the receiver's default.
	Duration time.Duration `mapstructure:"duration"`
	// FollowUp requests the same captures once more when the episode is still active this long (data time) after
	// it started: the receiver then compares the new heap profile with the one taken at the start and names the
	// allocation sites that grew. Zero disables; use at least the receiver's captures.min_interval.
	FollowUp time.Duration `mapstructure:"follow_up"`
}

// RuleParams holds the parameters of every rule kind; each kind reads its own.
type RuleParams struct {
	// gc_frequency
	MinPerMinute         float64       `mapstructure:"min_per_minute"`
	MaxAllocRatio        float64       `mapstructure:"max_alloc_per_cycle_ratio"`
	MaxPerMinute         float64       `mapstructure:"max_per_minute"`
	BaselineMultiple     float64       `mapstructure:"baseline_multiple"`
	BaselineWarmup       time.Duration `mapstructure:"baseline_warmup"`
	MinBaselinePerMinute float64       `mapstructure:"min_baseline_per_minute"`
	MaxCPUFraction       float64       `mapstructure:"max_cpu_fraction"`
	MaxPausePerMinute    time.Duration `mapstructure:"max_pause_per_minute"`
	NearMemoryLimitRatio float64       `mapstructure:"near_memory_limit_ratio"`
	ClearRatio           float64       `mapstructure:"clear_ratio"`

	// goroutine_growth and heap_growth
	Signal            string  `mapstructure:"signal"`
	MinValue          float64 `mapstructure:"min_value"`
	MinGrowth         float64 `mapstructure:"min_growth"`
	MinRelativeGrowth float64 `mapstructure:"min_relative_growth"`
	Significance      float64 `mapstructure:"significance"`
	MinPoints         int     `mapstructure:"min_points"`
	// MinHorizon is the shortest horizon judged; horizons double from it up to the rule's window.
	MinHorizon time.Duration `mapstructure:"min_horizon"`
	// SustainRatio separates a ramp (decelerating) from a leak (steady rate), see the README.
	SustainRatio float64 `mapstructure:"sustain_ratio"`
	// SiteMinGrowth (goroutine_growth): goroutines one call site must gain over a horizon to be flagged on its own.
	SiteMinGrowth float64 `mapstructure:"site_min_growth"`
	// LeakedThreshold (goroutine_growth): goroutines reported by the goroutineleak profile that start an episode on
	// their own; nil means 1, 0 disables.
	LeakedThreshold *float64 `mapstructure:"leaked_threshold"`

	// threshold
	Metric     string            `mapstructure:"metric"`
	Attributes map[string]string `mapstructure:"attributes"`
	Comparator string            `mapstructure:"comparator"`
	Value      *float64          `mapstructure:"value"`
	For        time.Duration     `mapstructure:"for"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration; the error names the bad field.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.AnnotateInterval < 0 {
		errs = append(errs, errors.New("annotate_interval must not be negative (e.g. 1m; 0 reports on every batch)"))
	}
	if cfg.EvaluationInterval <= 0 {
		errs = append(errs, errors.New("evaluation_interval must be positive (e.g. 15s)"))
	}
	if cfg.MaxSeries <= 0 {
		errs = append(errs, errors.New("max_series must be positive (e.g. 500)"))
	}
	if cfg.MaxHistoryPoints < 16 {
		errs = append(errs, errors.New("max_history_points must be at least 16 (e.g. 240)"))
	}
	if cfg.IdleTimeout <= 0 {
		errs = append(errs, errors.New("idle_timeout must be positive (e.g. 10m)"))
	}
	if cfg.MaxGap <= 0 {
		errs = append(errs, errors.New("max_gap must be positive (e.g. 2m)"))
	}
	if cfg.CaptureQueueSize <= 0 {
		errs = append(errs, errors.New("capture_queue_size must be positive (e.g. 16)"))
	}
	if cfg.CaptureTimeout <= 0 {
		errs = append(errs, errors.New("capture_timeout must be positive (e.g. 2m)"))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if _, err := compileRules(cfg); err != nil {
		return err
	}
	return nil
}

// ruleField prefixes a rule's field name for error messages.
func ruleField(i int, name, field string) string {
	if name == "" {
		return fmt.Sprintf("rules[%d].%s", i, field)
	}
	return fmt.Sprintf("rules[%d] (%q).%s", i, name, field)
}
