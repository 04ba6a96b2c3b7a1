package otlptxexporter // import "github.com/otelcol-ready/otelcol-ready/exporter/otlptxexporter"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/otelcol-ready/otelcol-ready/pkg/otlptx"
)

// maxResponseBodySize bounds how much of a receiver's answer is read.
const maxResponseBodySize = 64 << 10

// endpoint is one gateway URL with its HTTP client and health.
type endpoint struct {
	url    string
	client *http.Client

	mu        sync.Mutex
	downUntil time.Time
	// v1Until is when this endpoint, which refused version 2 with 415, is offered
	// version 2 again; until then version-2 batches are converted to version 1.
	v1Until time.Time
}

func (e *endpoint) wantsV1(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return now.Before(e.v1Until)
}

func (e *endpoint) refusedV2(until time.Time) {
	e.mu.Lock()
	e.v1Until = until
	e.mu.Unlock()
}

func (e *endpoint) available(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !now.Before(e.downUntil)
}

func (e *endpoint) markDown(until time.Time) {
	e.mu.Lock()
	e.downUntil = until
	e.mu.Unlock()
}

// requestURL appends the OTLP-TX path to a base URL without a path.
func requestURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("parse endpoint %q: %w", base, err)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = otlptx.Path
	}
	return u.String(), nil
}

// sender delivers encoded batches to the endpoints.
type sender struct {
	logger      *zap.Logger
	endpoints   []*endpoint
	cooldown    time.Duration
	failover    bool // always start at the first endpoint instead of round robin
	retry       configretry.BackOffConfig
	compression otlptx.Compression
	senderID    string
	next        atomic.Uint64 // round-robin start for the next batch
	// codec converts version-2 bodies for endpoints that refused version 2; v2Retry is
	// how long such an endpoint gets version 1.
	codec          *otlptx.Codec
	v2Retry        time.Duration
	loggedFallback atomic.Bool
	// onRetry counts an attempt that failed retryably.
	onRetry func()
}

// sendError carries the receiver's Retry-After hint with a retryable failure.
type sendError struct {
	err        error
	retryAfter time.Duration
}

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// deliver sends one batch until it is accepted, rejected permanently, the retry budget
// is spent or stop is closed. Each attempt goes to the next available endpoint, so a
// down gateway costs one failed attempt, not a backoff delay.
func (s *sender) deliver(ctx context.Context, stop <-chan struct{}, b *queuedBatch) error {
	start := time.Now()
	interval := s.retry.InitialInterval
	first := 0
	if !s.failover {
		first = int(s.next.Add(1)-1) % len(s.endpoints)
	}
	attempt := 0
	for {
		now := time.Now()
		var lastErr error
		var retryAfter time.Duration
		// One round: every endpoint at most once, those in cooldown last.
		roundStart := first
		if !s.failover {
			roundStart += attempt
		}
		for _, ep := range s.roundOrder(roundStart, now) {
			err := s.send(ctx, ep, b)
			if err == nil {
				return nil
			}
			if consumererror.IsPermanent(err) {
				return err
			}
			lastErr = err
			var se *sendError
			if errors.As(err, &se) {
				retryAfter = max(retryAfter, se.retryAfter)
			}
			ep.markDown(time.Now().Add(max(s.cooldown, retryAfter)))
			s.logger.Debug("otlptx batch attempt failed",
				zap.Uint64("sequence", b.sequence), zap.String("endpoint", ep.url), zap.Error(err))
		}
		attempt++
		if s.onRetry != nil {
			s.onRetry()
		}
		if !s.retry.Enabled {
			return fmt.Errorf("send otlptx batch %d (retries disabled): %w", b.sequence, lastErr)
		}
		wait := max(jitter(interval, s.retry.RandomizationFactor), retryAfter)
		if s.retry.MaxElapsedTime > 0 && time.Since(start)+wait > s.retry.MaxElapsedTime {
			return fmt.Errorf("send otlptx batch %d: giving up after %s (retry_on_failure.max_elapsed_time): %w",
				b.sequence, time.Since(start).Round(time.Millisecond), lastErr)
		}
		s.logger.Warn("otlptx batch not delivered, will retry",
			zap.Uint64("sequence", b.sequence), zap.Duration("retry_in", wait), zap.Error(lastErr))
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-stop:
			timer.Stop()
			return errStopped
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
		interval = min(time.Duration(float64(interval)*max(s.retry.Multiplier, 1)), s.retry.MaxInterval)
	}
}

var errStopped = errors.New("otlptx exporter is shutting down")

// roundOrder returns every endpoint once starting at index first, available ones
// before those in cooldown.
func (s *sender) roundOrder(first int, now time.Time) []*endpoint {
	n := len(s.endpoints)
	order := make([]*endpoint, 0, n)
	var cooling []*endpoint
	for i := range n {
		ep := s.endpoints[(first+i)%n]
		if ep.available(now) {
			order = append(order, ep)
		} else {
			cooling = append(cooling, ep)
		}
	}
	return append(order, cooling...)
}

func jitter(d time.Duration, factor float64) time.Duration {
	if factor <= 0 || d <= 0 {
		return d
	}
	delta := factor * float64(d)
	return time.Duration(float64(d) - delta + rand.Float64()*2*delta) //nolint:gosec // jitter, not security
}

// send makes one HTTP attempt (two when the endpoint refuses version 2: the batch is then
// sent again as version 1 at once). Permanent errors (400, 413, 415 and other 4xx except
// 429) are wrapped with consumererror.NewPermanent.
func (s *sender) send(ctx context.Context, ep *endpoint, b *queuedBatch) error {
	body, contentType, err := s.bodyFor(ep, b.body, time.Now())
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	refusedV2, err := s.post(ctx, ep, b, body, contentType)
	if !refusedV2 {
		return err
	}
	ep.refusedV2(time.Now().Add(s.v2Retry))
	if !s.loggedFallback.Swap(true) {
		s.logger.Warn("gateway refused OTLP-TX v2 (415 Unsupported Media Type); sending it v1 and offering v2 again later",
			zap.String("endpoint", ep.url), zap.Duration("v2_retry_interval", s.v2Retry))
	}
	if body, contentType, err = s.bodyFor(ep, b.body, time.Now()); err != nil {
		return consumererror.NewPermanent(err)
	}
	_, err = s.post(ctx, ep, b, body, contentType)
	return err
}

// bodyFor returns the body and Content-Type to send a queued body to ep: version-2 bodies
// go as they are unless ep refused version 2 recently, then they are converted.
func (s *sender) bodyFor(ep *endpoint, queued []byte, now time.Time) ([]byte, string, error) {
	if !otlptx.IsV2Body(queued) {
		return queued, otlptx.ContentType(otlptx.V1Compression(s.compression)), nil
	}
	if !ep.wantsV1(now) {
		return queued, otlptx.MediaTypeV2, nil
	}
	v1Comp := otlptx.V1Compression(s.compression)
	body, err := s.codec.ConvertBodyToV1(queued, v1Comp)
	if err != nil {
		return nil, "", err
	}
	return body, otlptx.ContentType(v1Comp), nil
}

// post makes one HTTP request; refusedV2 reports a 415 answer to a version-2 body.
func (s *sender) post(ctx context.Context, ep *endpoint, b *queuedBatch, body []byte, contentType string) (refusedV2 bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(body))
	if err != nil {
		return false, consumererror.NewPermanent(fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(otlptx.HeaderSenderID, s.senderID)
	req.Header.Set(otlptx.HeaderSequence, strconv.FormatUint(b.sequence, 10))
	resp, err := ep.client.Do(req)
	if err != nil {
		return false, &sendError{err: fmt.Errorf("post to %s: %w", ep.url, err)}
	}
	defer resp.Body.Close()
	respBody, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBodySize))
	_, _ = io.Copy(io.Discard, resp.Body)
	var parsed *otlptx.Response
	if readErr == nil && strings.HasPrefix(resp.Header.Get("Content-Type"), otlptx.MediaType) {
		parsed, _ = otlptx.UnmarshalResponse(respBody)
	}
	message := func() string {
		if parsed != nil && parsed.Message != "" {
			return parsed.Message
		}
		return strings.TrimSpace(string(respBody[:min(len(respBody), 512)]))
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		if parsed != nil {
			b.rejected = [signalCount]uint64{parsed.Traces.Rejected, parsed.Metrics.Rejected, parsed.Logs.Rejected}
			s.logRejections(b, parsed)
		}
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return false, &sendError{
			err:        fmt.Errorf("%s answered %s: %s", ep.url, resp.Status, message()),
			retryAfter: parseRetryAfter(resp.Header.Get("Retry-After")),
		}
	case resp.StatusCode == http.StatusUnsupportedMediaType && contentType == otlptx.MediaTypeV2:
		return true, consumererror.NewPermanent(fmt.Errorf("%s refused OTLP-TX v2: %s", ep.url, message()))
	default:
		return false, consumererror.NewPermanent(fmt.Errorf("%s answered %s (not retried): %s", ep.url, resp.Status, message()))
	}
}

func (s *sender) logRejections(b *queuedBatch, r *otlptx.Response) {
	for _, sig := range []struct {
		name string
		res  otlptx.SignalResult
	}{{"traces", r.Traces}, {"metrics", r.Metrics}, {"logs", r.Logs}} {
		if sig.res.Rejected > 0 {
			s.logger.Warn("otlptx receiver rejected items",
				zap.Uint64("sequence", b.sequence), zap.String("signal", sig.name),
				zap.Uint64("rejected", sig.res.Rejected), zap.String("reason", sig.res.ErrorMessage))
		}
	}
	if r.Duplicate {
		s.logger.Debug("otlptx receiver had already accepted this batch", zap.Uint64("sequence", b.sequence))
	}
}

// parseRetryAfter reads delay-seconds or an HTTP date; unknown forms mean no hint.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return min(time.Duration(secs)*time.Second, 5*time.Minute)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), 5*time.Minute)
	}
	return 0
}

// newEndpoints builds one confighttp client per endpoint.
func newEndpoints(ctx context.Context, cfg *Config, host component.Host, set component.TelemetrySettings) ([]*endpoint, error) {
	var out []*endpoint
	for _, base := range cfg.allEndpoints() {
		clientCfg := cfg.ClientConfig
		clientCfg.Endpoint = base
		// The envelope is compressed by the exporter, not by HTTP middleware.
		clientCfg.Compression = ""
		client, err := clientCfg.ToClient(ctx, host.GetExtensions(), set)
		if err != nil {
			return nil, fmt.Errorf("create HTTP client for %s: %w", base, err)
		}
		u, err := requestURL(base)
		if err != nil {
			return nil, err
		}
		out = append(out, &endpoint{url: u, client: client})
	}
	return out, nil
}
