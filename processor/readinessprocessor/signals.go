package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

// signal is a canonical Go runtime signal; rules are written against signals, never against metric names.
type signal uint8

const (
	sigGoroutines       signal = iota // current goroutine count
	sigGCCycles                       // cumulative completed GC cycles
	sigGCPauseTotal                   // cumulative stop-the-world pause, seconds
	sigGCCPUFraction                  // fraction of CPU used by the GC since process start
	sigHeapInuse                      // bytes in in-use heap spans
	sigHeapAlloc                      // bytes of allocated heap objects (live + not yet swept)
	sigHeapGoal                       // heap size target of the current GC cycle
	sigGoroutinesLeaked               // goroutines reported by the goroutineleak profile
	sigMemoryLimit                    // GOMEMLIMIT, bytes
	sigMemoryUsed                     // memory mapped by the runtime minus released
	sigAllocBytes                     // cumulative bytes allocated on the heap
	numSignals
)

var signalNames = [numSignals]string{
	"goroutines", "gc_cycles", "gc_pause_total", "gc_cpu_fraction", "heap_inuse", "heap_alloc", "heap_goal",
	"goroutines_leaked", "memory_limit", "memory_used", "alloc_bytes",
}

func (s signal) String() string { return signalNames[s] }

// cumulative reports whether the signal only grows within one process lifetime.
func (s signal) cumulative() bool {
	return s == sigGCCycles || s == sigGCPauseTotal || s == sigAllocBytes
}

// extraction says which value of a data point carries the signal.
type extraction uint8

const (
	fromNumber       extraction = iota // gauge or sum data point value
	fromSummaryCount                   // summary (or histogram) count
	fromSummarySum                     // summary (or histogram) sum
)

// signalSource maps one metric name to a signal.
type signalSource struct {
	signal signal
	from   extraction
	scale  float64
	// sumPoints adds the points of one timestamp (e.g. go.memory.used split by go.memory.type).
	sumPoints bool
}

func src(s signal) signalSource { return signalSource{signal: s, from: fromNumber, scale: 1} }

// signalSources is the one table that normalises the names under which Go runtime metrics arrive:
// pprofscrape's own, the Prometheus Go client's (as the prometheus receiver emits them, with and without the
// unit/type suffixes that name normalisation may strip), the OpenTelemetry semantic conventions for Go, and the
// older process.runtime.go.* instrumentation (also in its Prometheus-translated spelling).
var signalSources = map[string][]signalSource{
	// pprofscrape receiver.
	"go.goroutine.count":           {src(sigGoroutines)},
	"go.memory.gc.cycles":          {src(sigGCCycles)},
	"pprofscrape.gc.pause.total":   {src(sigGCPauseTotal)},
	"pprofscrape.gc.cpu_fraction":  {src(sigGCCPUFraction)},
	"pprofscrape.heap.inuse":       {src(sigHeapInuse)},
	"pprofscrape.heap.alloc":       {src(sigHeapAlloc)},
	"go.memory.gc.goal":            {src(sigHeapGoal)},
	"pprofscrape.goroutine.leaked": {src(sigGoroutinesLeaked)},
	"go.memory.allocated":          {src(sigAllocBytes)},
	// OTel semantic conventions (go.goroutine.count and go.memory.gc.goal above are shared with pprofscrape).
	"go.memory.used":  {{signal: sigMemoryUsed, from: fromNumber, scale: 1, sumPoints: true}},
	"go.memory.limit": {src(sigMemoryLimit)},

	// Prometheus Go client (client_golang), classic collector names.
	"go_goroutines":                 {src(sigGoroutines)},
	"go_gc_duration_seconds":        {{signal: sigGCCycles, from: fromSummaryCount, scale: 1}, {signal: sigGCPauseTotal, from: fromSummarySum, scale: 1}},
	"go_gc_duration_seconds_count":  {src(sigGCCycles)},
	"go_gc_duration_seconds_sum":    {src(sigGCPauseTotal)},
	"go_memstats_heap_inuse_bytes":  {src(sigHeapInuse)},
	"go_memstats_heap_inuse":        {src(sigHeapInuse)},
	"go_memstats_heap_alloc_bytes":  {src(sigHeapAlloc)},
	"go_memstats_heap_alloc":        {src(sigHeapAlloc)},
	"go_memstats_next_gc_bytes":     {src(sigHeapGoal)},
	"go_memstats_next_gc":           {src(sigHeapGoal)},
	"go_memstats_gc_cpu_fraction":   {src(sigGCCPUFraction)},
	"go_memstats_alloc_bytes_total": {src(sigAllocBytes)},
	"go_gc_gomemlimit_bytes":        {src(sigMemoryLimit)},
	"go_gc_gomemlimit":              {src(sigMemoryLimit)},
	// client_golang runtime/metrics names (opt-in collectors).
	"go_sched_goroutines_goroutines":     {src(sigGoroutines)},
	"go_gc_cycles_total_gc_cycles":       {src(sigGCCycles)},
	"go_gc_cycles_total_gc_cycles_total": {src(sigGCCycles)},
	"go_gc_heap_goal_bytes":              {src(sigHeapGoal)},

	// Older OTel Go runtime instrumentation (go.opentelemetry.io/contrib/instrumentation/runtime before semconv).
	"process.runtime.go.goroutines":              {src(sigGoroutines)},
	"process.runtime.go.gc.count":                {src(sigGCCycles)},
	"process.runtime.go.gc.pause_total_ns":       {{signal: sigGCPauseTotal, from: fromNumber, scale: 1e-9}},
	"process.runtime.go.mem.heap_inuse":          {src(sigHeapInuse)},
	"process.runtime.go.mem.heap_alloc":          {src(sigHeapAlloc)},
	"process_runtime_go_goroutines":              {src(sigGoroutines)},
	"process_runtime_go_gc_count":                {src(sigGCCycles)},
	"process_runtime_go_gc_count_total":          {src(sigGCCycles)},
	"process_runtime_go_gc_pause_total_ns":       {{signal: sigGCPauseTotal, from: fromNumber, scale: 1e-9}},
	"process_runtime_go_gc_pause_total_ns_total": {{signal: sigGCPauseTotal, from: fromNumber, scale: 1e-9}},
	"process_runtime_go_mem_heap_inuse_bytes":    {src(sigHeapInuse)},
	"process_runtime_go_mem_heap_alloc_bytes":    {src(sigHeapAlloc)},
}

// memoryLimitUnset is the smallest GOMEMLIMIT value treated as "no limit" (the runtime reports math.MaxInt64).
const memoryLimitUnset = float64(1 << 60)

// Per-call-site goroutine counts (pprofscrape, from the goroutine stacks): one point per site, the site in
// attribute siteAttribute; siteOther sums the sites beyond the receiver's bound and is not judged on its own.
const (
	metricGoroutineSites = "pprofscrape.goroutine.site.count"
	siteAttribute        = "code.function"
	siteOther            = "(other)"
)
