package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
	"github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor/internal/metadata"
)

// ActionNotify sends the rule's episodes to the notify targets (notify.alertmanager, notify.webhook).
const ActionNotify = "notify"

// Names of the notify targets (the target attribute of the notification telemetry).
const (
	targetAlertmanager = "alertmanager"
	targetWebhook      = "webhook"
)

// Reasons a notification is given up (the reason attribute of processor_readiness_notifications_dropped).
const (
	dropQueueFull        = "queue_full"
	dropRetriesExhausted = "retries_exhausted"
	dropRejected         = "rejected"
	dropShutdown         = "shutdown"
)

// phaseResend is the notifier's own phase: an active episode re-sent to Alertmanager so it does not resolve it.
const phaseResend readinesshubextension.Phase = "resend"

// NotifyConfig holds the targets of the notify action and how notifications are delivered.
type NotifyConfig struct {
	// Alertmanager is an Alertmanager (its base address, e.g. http://alertmanager:9093): alerts are posted to its
	// API v2 (/api/v2/alerts). TLS, headers, auth and timeout as in every confighttp client.
	Alertmanager confighttp.ClientConfig `mapstructure:"alertmanager"`
	// Webhook receives every episode event (start, update, end) as a JSON document posted to its endpoint.
	Webhook confighttp.ClientConfig `mapstructure:"webhook"`
	// QueueSize bounds the notifications waiting per target; more are dropped (the pipeline never waits).
	QueueSize int `mapstructure:"queue_size"`
	// ResendInterval is how often an active episode's alert is re-sent to Alertmanager; its endsAt is set 4 intervals
	// ahead, so Alertmanager keeps it firing while the collector runs and resolves it on its own when it stops.
	ResendInterval time.Duration `mapstructure:"resend_interval"`
	// RetryOnFailure retries a notification that failed (network error, 429, 5xx) with exponential backoff, until
	// max_elapsed_time.
	RetryOnFailure configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	_ struct{}
}

func defaultNotifyConfig() NotifyConfig {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = 10 * time.Second
	return NotifyConfig{
		Alertmanager:   client,
		Webhook:        client,
		QueueSize:      64,
		ResendInterval: time.Minute,
		RetryOnFailure: configretry.NewDefaultBackOffConfig(),
	}
}

// enabled reports whether a notify target is configured.
func (n *NotifyConfig) enabled() bool {
	return n.Alertmanager.Endpoint != "" || n.Webhook.Endpoint != ""
}

// Validate checks the notify section; confmap validates the clients and the retry settings themselves.
func (n *NotifyConfig) Validate() error {
	var errs []error
	for _, t := range []struct{ name, endpoint string }{
		{"notify.alertmanager.endpoint", n.Alertmanager.Endpoint},
		{"notify.webhook.endpoint", n.Webhook.Endpoint},
	} {
		if t.endpoint == "" {
			continue
		}
		u, err := url.Parse(t.endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL; use e.g. http://alertmanager:9093", t.name, t.endpoint))
		}
	}
	if !n.enabled() {
		return errors.Join(errs...)
	}
	if n.QueueSize <= 0 {
		errs = append(errs, errors.New("notify.queue_size must be positive (e.g. 64)"))
	}
	if n.ResendInterval <= 0 {
		errs = append(errs, errors.New("notify.resend_interval must be positive (e.g. 1m, below Alertmanager's resolve_timeout of 5m)"))
	}
	return errors.Join(errs...)
}

// notifyItem is one notification waiting for its target.
type notifyItem struct {
	phase   readinesshubextension.Phase
	episode readinesshubextension.Episode
	url     string    // readiness page of the episode, "" when none is served
	at      time.Time // collector clock when the event happened
}

// encoder turns a notification into the request body of a target.
type encoder func(n *notifier, it notifyItem) ([]byte, error)

// notifier delivers the episodes of the rules with the notify action to Alertmanager and/or a webhook. Publish
// never blocks: every target has a bounded queue and a sender goroutine that retries with backoff.
type notifier struct {
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	hub       readinesshubextension.Hub // for EpisodeURL; nil without a readiness_hub extension
	now       func() time.Time
	resend    time.Duration
	retry     configretry.BackOffConfig
	targets   []*notifyTarget

	mu     sync.Mutex
	active map[string]*readinesshubextension.Episode // episodes of notify rules, by ID

	ctx      context.Context
	cancel   context.CancelFunc
	draining chan struct{} // closed by stop: deliver what is queued, one attempt each, then exit
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// shutdownFlush bounds how long stop delivers the notifications still queued (an episode's end, typically).
const shutdownFlush = 5 * time.Second

// notifyTarget is one destination with its own queue and sender.
type notifyTarget struct {
	name   string
	url    string
	client *http.Client
	encode encoder
	// resends: the target wants active episodes re-sent (Alertmanager).
	resends bool
	queue   chan notifyItem
	drops   rateLimitedLog

	mu sync.Mutex
	// pending counts the queued or in-flight notifications per episode: a re-send is skipped while one is pending.
	pending map[string]int
}

func newNotifier(ctx context.Context, cfg *NotifyConfig, host component.Host, hub readinesshubextension.Hub, set component.TelemetrySettings, tb *metadata.TelemetryBuilder) (*notifier, error) {
	n := &notifier{
		logger:    set.Logger,
		telemetry: tb,
		hub:       hub,
		now:       time.Now,
		resend:    cfg.ResendInterval,
		retry:     cfg.RetryOnFailure,
		active:    map[string]*readinesshubextension.Episode{},
	}
	add := func(name string, cc confighttp.ClientConfig, path string, enc encoder, resends bool) error {
		if cc.Endpoint == "" {
			return nil
		}
		client, err := cc.ToClient(ctx, host.GetExtensions(), set)
		if err != nil {
			return fmt.Errorf("notify.%s: %w", name, err)
		}
		target, err := url.JoinPath(cc.Endpoint, path)
		if err != nil {
			return fmt.Errorf("notify.%s.endpoint: %w", name, err)
		}
		n.targets = append(n.targets, &notifyTarget{
			name: name, url: target, client: client, encode: enc, resends: resends,
			queue: make(chan notifyItem, cfg.QueueSize), pending: map[string]int{},
			drops: rateLimitedLog{every: 10 * time.Second},
		})
		return nil
	}
	if err := add(targetAlertmanager, cfg.Alertmanager, "/api/v2/alerts", encodeAlertmanager, true); err != nil {
		return nil, err
	}
	if err := add(targetWebhook, cfg.Webhook, "", encodeWebhook, false); err != nil {
		return nil, err
	}
	return n, nil
}

// start runs a sender per target and, for Alertmanager, the re-send ticker.
func (n *notifier) start() {
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.draining = make(chan struct{})
	for _, t := range n.targets {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.run(t)
		}()
		if t.resends {
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				tick := time.NewTicker(n.resend)
				defer tick.Stop()
				for {
					select {
					case <-n.draining:
						return
					case <-tick.C:
						n.resendActive(t)
					}
				}
			}()
		}
	}
}

// stop ends the senders: what is queued gets one attempt within shutdownFlush, the rest is dropped (counted with
// reason shutdown).
func (n *notifier) stop() {
	if n.cancel == nil {
		return
	}
	n.stopOnce.Do(n.drain)
}

func (n *notifier) drain() {
	close(n.draining)
	deadline := time.AfterFunc(shutdownFlush, n.cancel)
	n.wg.Wait()
	deadline.Stop()
	n.cancel()
	for _, t := range n.targets {
		for {
			select {
			case it := <-t.queue:
				n.dropped(t, it, dropShutdown, nil)
				continue
			default:
			}
			break
		}
	}
}

// Publish takes an episode event of the readiness processor: the start of an episode of a rule with the notify
// action, or an update or the end of one. Updates and ends of episodes it was not told the start of are ignored
// (their rule does not notify).
func (n *notifier) Publish(ev readinesshubextension.Event) {
	n.mu.Lock()
	var ep readinesshubextension.Episode
	switch ev.Phase {
	case readinesshubextension.PhaseStart:
		cur := ev.Episode.Clone()
		n.active[cur.ID] = &cur
		ep = cur.Clone()
	case readinesshubextension.PhaseUpdate, readinesshubextension.PhaseEnd:
		cur, ok := n.active[ev.Episode.ID]
		if !ok {
			n.mu.Unlock()
			return
		}
		cur.Merge(&ev.Episode)
		ep = cur.Clone()
		if ev.Phase == readinesshubextension.PhaseEnd {
			delete(n.active, cur.ID)
		}
	default:
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	it := notifyItem{phase: ev.Phase, episode: ep, at: n.now()}
	if n.hub != nil {
		it.url = n.hub.EpisodeURL(ep)
	}
	for _, t := range n.targets {
		n.enqueue(t, it)
	}
}

// resendActive queues a re-send of every active episode that has no notification pending for the target.
func (n *notifier) resendActive(t *notifyTarget) {
	n.mu.Lock()
	eps := make([]readinesshubextension.Episode, 0, len(n.active))
	for _, ep := range n.active {
		eps = append(eps, ep.Clone())
	}
	n.mu.Unlock()
	for _, ep := range eps {
		t.mu.Lock()
		busy := t.pending[ep.ID] > 0
		t.mu.Unlock()
		if busy {
			continue
		}
		it := notifyItem{phase: phaseResend, episode: ep, at: n.now()}
		if n.hub != nil {
			it.url = n.hub.EpisodeURL(ep)
		}
		n.enqueue(t, it)
	}
}

// enqueue hands a notification to the target's sender without blocking; a full queue drops it.
func (n *notifier) enqueue(t *notifyTarget, it notifyItem) {
	t.mu.Lock()
	t.pending[it.episode.ID]++
	t.mu.Unlock()
	select {
	case t.queue <- it:
	default:
		t.done(it)
		n.dropped(t, it, dropQueueFull, errors.New("notification queue is full"))
	}
}

func (t *notifyTarget) done(it notifyItem) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending[it.episode.ID]--; t.pending[it.episode.ID] <= 0 {
		delete(t.pending, it.episode.ID)
	}
}

// idle reports whether no notification is queued or in flight.
func (t *notifyTarget) idle() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending) == 0
}

func (n *notifier) run(t *notifyTarget) {
	for {
		select {
		case <-n.ctx.Done():
			return
		case it := <-t.queue:
			n.deliver(t, it)
			t.done(it)
		case <-n.draining:
			for {
				select {
				case it := <-t.queue:
					n.deliver(t, it)
					t.done(it)
				default:
					return
				}
			}
		}
	}
}

// errPermanent marks a response that a retry would not change (a 4xx other than 408 and 429).
var errPermanent = errors.New("permanent failure")

// deliver sends one notification, retrying with exponential backoff until the retry window is used up.
func (n *notifier) deliver(t *notifyTarget, it notifyItem) {
	attrs := metric.WithAttributes(attribute.String("target", t.name))
	body, err := t.encode(n, it)
	if err != nil {
		n.dropped(t, it, dropRejected, fmt.Errorf("encoding the notification: %w", err))
		return
	}
	began := time.Now() // the retry window is measured on the monotonic clock, n.now stamps the documents
	wait := n.retry.InitialInterval
	for {
		err := n.post(t, body)
		if err == nil {
			n.telemetry.ProcessorReadinessNotificationsSent.Add(n.ctx, 1, metric.WithAttributes(
				attribute.String("target", t.name), attribute.String("phase", string(it.phase))))
			return
		}
		if n.ctx.Err() != nil {
			n.dropped(t, it, dropShutdown, err)
			return
		}
		if errors.Is(err, errPermanent) {
			n.dropped(t, it, dropRejected, err)
			return
		}
		if !n.retry.Enabled {
			n.dropped(t, it, dropRetriesExhausted, err)
			return
		}
		delay := jitter(wait, n.retry.RandomizationFactor)
		if n.retry.MaxElapsedTime > 0 && time.Since(began)+delay > n.retry.MaxElapsedTime {
			n.dropped(t, it, dropRetriesExhausted, err)
			return
		}
		n.telemetry.ProcessorReadinessNotificationsRetried.Add(n.ctx, 1, attrs)
		n.logger.Debug("readiness: notification failed, retrying", zap.String("target", t.name), zap.Duration("backoff", delay), zap.Error(err))
		timer := time.NewTimer(delay)
		select {
		case <-n.draining:
			timer.Stop()
			n.dropped(t, it, dropShutdown, err)
			return
		case <-timer.C:
		}
		wait = min(time.Duration(float64(wait)*max(n.retry.Multiplier, 1)), max(n.retry.MaxInterval, n.retry.InitialInterval))
	}
}

// jitter spreads d by ±factor, so that collectors that failed together do not retry together.
func jitter(d time.Duration, factor float64) time.Duration {
	if factor <= 0 || d <= 0 {
		return d
	}
	delta := factor * float64(d)
	return time.Duration(float64(d) - delta + rand.Float64()*2*delta) //nolint:gosec // timing jitter, not security
}

func (n *notifier) post(t *notifyTarget, body []byte) error {
	req, err := http.NewRequestWithContext(n.ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("posting to %s: %w", t.url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		return fmt.Errorf("%s answered %s: %s", t.url, resp.Status, bytes.TrimSpace(msg))
	default:
		return fmt.Errorf("%w: %s answered %s: %s", errPermanent, t.url, resp.Status, bytes.TrimSpace(msg))
	}
}

// dropped counts a notification given up and logs it, at most once per target every few seconds.
func (n *notifier) dropped(t *notifyTarget, it notifyItem, reason string, err error) {
	n.telemetry.ProcessorReadinessNotificationsDropped.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("target", t.name), attribute.String("reason", reason)))
	if suppressed, ok := t.drops.allow(n.now()); ok {
		n.logger.Warn("readiness: notification dropped",
			zap.String("target", t.name), zap.String("reason", reason), zap.String("phase", string(it.phase)),
			zap.String("rule", it.episode.Rule), zap.String("service.name", it.episode.Target.ServiceName),
			zap.String("service.instance.id", it.episode.Target.ServiceInstanceID),
			zap.Int("dropped_since_last_log", suppressed), zap.Error(err))
	}
}

// rateLimitedLog lets one log line through per interval and counts the ones it held back.
type rateLimitedLog struct {
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many lines were held back since the last one.
func (r *rateLimitedLog) allow(now time.Time) (suppressed int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		r.suppressed++
		return 0, false
	}
	suppressed, r.suppressed, r.last = r.suppressed, 0, now
	return suppressed, true
}
