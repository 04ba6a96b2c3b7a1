package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver/internal/metadata"
)

// captureEventName is the event name of the log record each capture emits.
const captureEventName = "pprofscrape.capture"

type pipelineLogs = plog.Logs

// captureManager is the receiver's Capturer: it resolves a target identity to a configured target, enforces the
// allowed kinds and the rate limit, writes the profile and reports it.
type captureManager struct {
	cfg       *CapturesConfig
	targets   []*target
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	emit      func(context.Context, plog.Logs)
	buildInfo string
	allowed   map[pprofcaptureextension.Kind]bool
	now       func() time.Time

	// diskMu serialises writes and evictions in the directory.
	diskMu sync.Mutex
	// ctx is cancelled at shutdown so that captures in flight end.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ pprofcaptureextension.Capturer = (*captureManager)(nil)

func newCaptureManager(cfg *CapturesConfig, targets []*target, set receiver.Settings, tb *metadata.TelemetryBuilder, emit func(context.Context, plog.Logs)) *captureManager {
	allowed := map[pprofcaptureextension.Kind]bool{}
	for _, k := range cfg.AllowedKinds {
		allowed[k] = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &captureManager{
		cfg: cfg, targets: targets, logger: set.Logger, telemetry: tb, emit: emit,
		buildInfo: set.BuildInfo.Version, allowed: allowed, now: time.Now, ctx: ctx, cancel: cancel,
	}
}

func (m *captureManager) shutdown() {
	m.cancel()
	m.wg.Wait()
}

func (m *captureManager) find(key pprofcaptureextension.TargetKey) *target {
	for _, t := range m.targets {
		if t.key() == key {
			return t
		}
	}
	return nil
}

// Owns reports whether key is the identity of one of this receiver's targets.
func (m *captureManager) Owns(key pprofcaptureextension.TargetKey) bool {
	return m.find(key) != nil
}

// Capture refuses the whole request (unknown target, kind not allowed, rate limit) or captures every kind, in
// parallel, and returns one result per kind.
func (m *captureManager) Capture(ctx context.Context, req pprofcaptureextension.Request) ([]pprofcaptureextension.Result, error) {
	t := m.find(req.Target)
	if t == nil {
		return nil, fmt.Errorf("%w: service.name=%q service.instance.id=%q", pprofcaptureextension.ErrUnknownTarget,
			req.Target.ServiceName, req.Target.ServiceInstanceID)
	}
	if len(req.Kinds) == 0 {
		return nil, errors.New("capture request names no kind")
	}
	if m.ctx.Err() != nil {
		return nil, errors.New("capture refused: the pprofscrape receiver is shutting down")
	}
	for _, k := range req.Kinds {
		if !m.allowed[k] {
			return nil, fmt.Errorf("%w: %q (captures.allowed_kinds: %v)", pprofcaptureextension.ErrKindNotAllowed, k, m.cfg.AllowedKinds)
		}
	}
	now := m.now()
	t.mu.Lock()
	if !t.lastCaptureAt.IsZero() && now.Sub(t.lastCaptureAt) < m.cfg.MinInterval {
		next := t.lastCaptureAt.Add(m.cfg.MinInterval)
		t.mu.Unlock()
		return nil, fmt.Errorf("%w: next capture of %s/%s allowed at %s", pprofcaptureextension.ErrRateLimited,
			req.Target.ServiceName, req.Target.ServiceInstanceID, next.UTC().Format(time.RFC3339))
	}
	t.lastCaptureAt = now
	t.mu.Unlock()

	m.wg.Add(1)
	defer m.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(m.ctx, cancel)
	defer stop()

	results := make([]pprofcaptureextension.Result, len(req.Kinds))
	var wg sync.WaitGroup
	for i, k := range req.Kinds {
		wg.Go(func() { results[i] = m.captureOne(ctx, t, k, req, now) })
	}
	wg.Wait()
	for _, r := range results {
		m.report(ctx, t, req, r)
	}
	return results, nil
}

// duration clamps the requested sampling time to the configured maximum, in whole seconds (what pprof accepts).
func (m *captureManager) duration(req pprofcaptureextension.Request) time.Duration {
	d := req.Duration
	if d <= 0 {
		d = m.cfg.DefaultDuration
	}
	d = min(d, m.cfg.MaxDuration)
	return time.Duration(math.Max(1, math.Ceil(d.Seconds()))) * time.Second
}

func (m *captureManager) captureOne(ctx context.Context, t *target, kind pprofcaptureextension.Kind, req pprofcaptureextension.Request, now time.Time) pprofcaptureextension.Result {
	result := pprofcaptureextension.Result{Kind: kind}
	var (
		url      string
		ext      = ".pb.gz"
		sampling time.Duration
		window   string
	)
	if kind.Sampled() {
		sampling = m.duration(req)
		window = "seconds=" + strconv.Itoa(int(sampling.Seconds()))
	}
	switch kind {
	case pprofcaptureextension.KindHeap:
		url = t.pprofURL("heap", "")
	case pprofcaptureextension.KindGoroutine:
		url, ext = t.pprofURL("goroutine", "debug=2"), ".txt"
	case pprofcaptureextension.KindGoroutineDelta:
		url = t.pprofURL("goroutine", window)
	case pprofcaptureextension.KindGoroutineLeak:
		url = t.pprofURL("goroutineleak", "")
	case pprofcaptureextension.KindCPU:
		url = t.pprofURL("profile", window)
	case pprofcaptureextension.KindAllocsDelta:
		// net/http/pprof takes two profiles N seconds apart and serves their difference: what was allocated
		// (allocs) or retained (heap) during the window.
		url = t.pprofURL("allocs", window)
	case pprofcaptureextension.KindHeapDelta:
		// Not heap?seconds=N: a heap profile shows the heap as of the last completed GC, so without a GC ending
		// inside the window (a slow heap growth has few) that difference is empty. Two profiles taken right after
		// a forced GC (gc=1), N seconds apart, show what the window retained.
		url = t.pprofURL("heap", "gc=1")
	default:
		result.Err = fmt.Errorf("%w: %q", pprofcaptureextension.ErrKindNotAllowed, kind)
		return result
	}

	key := t.key()
	dir := filepath.Join(m.cfg.Directory, sanitizePathElement(key.ServiceName), sanitizePathElement(key.ServiceInstanceID))
	previousHeap := ""
	if kind == pprofcaptureextension.KindHeap {
		previousHeap = latestCapture(dir, string(kind))
	}
	name := now.UTC().Format("20060102T150405.000000000Z") + "-" + string(kind) + ext
	path := filepath.Join(dir, name)

	reqCtx, cancel := context.WithTimeout(ctx, sampling+m.cfg.Timeout)
	defer cancel()
	var size int64
	var err error
	if kind == pprofcaptureextension.KindHeapDelta {
		size, err = m.heapDelta(reqCtx, t, url, sampling, dir, path)
	} else {
		size, err = m.download(reqCtx, t, url, dir, path)
	}
	if err != nil {
		result.Err = captureError(kind, err)
		return result
	}
	result.Path, result.Size = path, size
	m.telemetry.PprofscrapeCaptureBytes.Add(context.Background(), size)

	if ext == ".txt" {
		result.SampleType = "goroutine"
		result.Summary, err = summarizeTextFile(path, m.cfg.SummaryEntries)
	} else {
		prof, sampleType, entries, perr := summarizeProfile(path, kind, m.cfg.SummaryEntries)
		err = perr
		result.SampleType, result.Summary = sampleType, entries
		if perr == nil && previousHeap != "" {
			if before, berr := readProfile(previousHeap); berr == nil {
				result.Summary = append(result.Summary, heapGrowth(before, prof, m.cfg.SummaryEntries)...)
			}
		}
	}
	if err != nil {
		// The file stays as evidence of what the target served.
		result.Err = fmt.Errorf("%s capture written to %s but does not parse: %w", kind, path, err)
	}
	m.enforceRetention()
	return result
}

func summarizeTextFile(path string, n int) ([]pprofcaptureextension.SummaryEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return summarizeGoroutineDump(f, n)
}

var errCPUBusy = errors.New("target is busy with another CPU profile")

func captureError(kind pprofcaptureextension.Kind, err error) error {
	var re *requestError
	if errors.As(err, &re) && kind == pprofcaptureextension.KindCPU && re.StatusCode == 500 &&
		strings.Contains(re.Err.Error(), "already in use") {
		return fmt.Errorf("%w: %w", errCPUBusy, err)
	}
	if errors.As(err, &re) && re.StatusCode == 404 && kind == pprofcaptureextension.KindGoroutineLeak {
		return fmt.Errorf("target does not serve goroutineleak (Go 1.26 built with GOEXPERIMENT=goroutineleakprofile needed): %w", err)
	}
	return fmt.Errorf("%s capture failed: %w", kind, err)
}

// download streams the body into path.
func (m *captureManager) download(ctx context.Context, t *target, url, dir, path string) (int64, error) {
	return m.writeCapture(dir, path, func(w io.Writer) (size int64, err error) {
		err = fetch(ctx, t.client, url, m.cfg.MaxFileSize, func(r io.Reader) error {
			var cerr error
			size, cerr = io.Copy(w, r)
			return cerr
		})
		return size, err
	})
}

// heapDelta fetches the heap profile at url twice, sampling apart, and writes their difference (after minus
// before) to path: the in-use memory the window added, by allocation site.
func (m *captureManager) heapDelta(ctx context.Context, t *target, url string, sampling time.Duration, dir, path string) (int64, error) {
	get := func() (*profile.Profile, error) {
		var p *profile.Profile
		err := fetch(ctx, t.client, url, m.cfg.MaxFileSize, func(r io.Reader) error {
			var perr error
			p, perr = profile.Parse(r)
			return perr
		})
		return p, err
	}
	before, err := get()
	if err != nil {
		return 0, fmt.Errorf("first heap profile: %w", err)
	}
	wait := time.NewTimer(sampling)
	defer wait.Stop()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-wait.C:
	}
	after, err := get()
	if err != nil {
		return 0, fmt.Errorf("second heap profile: %w", err)
	}
	before.Scale(-1)
	diff, err := profile.Merge([]*profile.Profile{after, before})
	if err != nil {
		return 0, fmt.Errorf("heap profiles %s apart do not compare: %w", sampling, err)
	}
	diff.TimeNanos, diff.DurationNanos = after.TimeNanos, sampling.Nanoseconds()
	return m.writeCapture(dir, path, func(w io.Writer) (int64, error) {
		counted := &countingWriter{w: w}
		err := diff.Write(counted)
		return counted.n, err
	})
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeCapture writes a capture into a temporary file in dir and renames it to path once complete, so a reader
// never sees a partial profile.
func (m *captureManager) writeCapture(dir, path string, write func(io.Writer) (int64, error)) (int64, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, fmt.Errorf("captures directory not writable: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		return 0, fmt.Errorf("captures directory not writable: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	size, err := write(tmp)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing capture: %w", cerr)
	}
	if err != nil {
		return 0, err
	}
	if size == 0 {
		return 0, errors.New("target answered with an empty body")
	}
	m.diskMu.Lock()
	defer m.diskMu.Unlock()
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("captures directory not writable: %w", err)
	}
	return size, nil
}

// report logs the outcome, counts it and emits the log record on the logs pipeline.
func (m *captureManager) report(ctx context.Context, t *target, req pprofcaptureextension.Request, r pprofcaptureextension.Result) {
	outcome := "ok"
	if r.Err != nil {
		outcome = "error"
	}
	m.telemetry.PprofscrapeCaptures.Add(context.Background(), 1,
		metric.WithAttributes(attribute.String("kind", string(r.Kind)), attribute.String("outcome", outcome)))
	key := t.key()
	targetName := key.ServiceName + "/" + key.ServiceInstanceID
	summary := formatSummary(r.Summary)
	fields := []zap.Field{
		zap.String("target", targetName), zap.String("kind", string(r.Kind)), zap.String("reason", req.Reason),
		zap.String("file.path", r.Path), zap.Int64("file.size", r.Size),
	}
	if r.Err != nil {
		m.logger.Warn("Profile capture failed", append(fields, zap.Error(r.Err))...)
	} else {
		m.logger.Info("Profile captured", append(fields, zap.Strings("summary", summary))...)
	}

	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	t.resource(key).CopyTo(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	sl.Scope().SetVersion(m.buildInfo)
	lr := sl.LogRecords().AppendEmpty()
	ts := pcommon.NewTimestampFromTime(m.now())
	lr.SetTimestamp(ts)
	lr.SetObservedTimestamp(ts)
	lr.SetEventName(captureEventName)
	attrs := lr.Attributes()
	attrs.PutStr("target", targetName)
	attrs.PutStr("kind", string(r.Kind))
	attrs.PutStr("reason", req.Reason)
	if len(req.Details) > 0 {
		details := attrs.PutEmptyMap("details")
		for k, v := range req.Details {
			details.PutStr(k, v)
		}
	}
	if r.Path != "" {
		attrs.PutStr("file.path", r.Path)
		attrs.PutInt("file.size", r.Size)
	}
	if r.SampleType != "" {
		attrs.PutStr("sample_type", r.SampleType)
	}
	if len(summary) > 0 {
		list := attrs.PutEmptySlice("summary")
		for _, s := range summary {
			list.AppendEmpty().SetStr(s)
		}
	}
	if r.Err != nil {
		attrs.PutStr("error", r.Err.Error())
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.SetSeverityText("WARN")
		lr.Body().SetStr(fmt.Sprintf("%s capture of %s failed: %v", r.Kind, targetName, r.Err))
	} else {
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		lr.Body().SetStr(fmt.Sprintf("%s capture of %s: %s (%d bytes)", r.Kind, targetName, r.Path, r.Size))
	}
	m.emit(ctx, logs)
}

var unsafePathChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// sanitizePathElement turns an identity into one safe directory name (no separators, no "..").
func sanitizePathElement(s string) string {
	s = unsafePathChars.ReplaceAllString(s, "_")
	if s == "" || s == "." || s == ".." {
		return "_" + s
	}
	return s
}
