package readinesshubextension // import "github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"

import (
	"context"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension/internal/metadata"
)

// Hub is what the readiness_hub extension offers to the components that find it through the host.
type Hub interface {
	// Publish records an episode event and hands it to every subscriber. It never blocks on I/O.
	Publish(ev Event)
	// Subscribe registers fn for every event published from now on; fn runs on the publisher's goroutine and
	// must return quickly (hand slow work to a queue of its own). The returned function removes it.
	Subscribe(fn func(Event)) (unsubscribe func())
	// RegisterSource adds a view of watched services; the returned function removes it (call it on shutdown).
	RegisterSource(src Source) (unregister func())
	// Sources returns the registered views.
	Sources() []Source
	// Episodes returns the active episodes and the most recent ended ones, newest start first.
	Episodes() []Episode
	// FlaggedService returns an episode of the service that is active, or that ended less than tail ago on the
	// collector clock; false when there is none.
	FlaggedService(serviceName string, tail time.Duration) (Episode, bool)
	// EpisodeURL is the address of the readiness page that shows the episode, for links in notifications; empty when
	// the hub serves no page.
	EpisodeURL(ep Episode) string
	// ReadsHistory reports whether something reads the sources' plotted history (the page): a source keeps that
	// history only then, so a hub that only relays episodes (a sidecar's) costs no memory per series.
	ReadsHistory() bool
}

type hub struct {
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	now       func() time.Time
	max       int

	mu          sync.RWMutex
	active      map[string]*Episode // by Episode.ID
	ended       []Episode           // oldest first, at most max
	subscribers map[int]func(Event)
	sources     map[int]Source
	nextID      int

	// page is the readiness page (page.go); nil when the config has no page section.
	page *page
	set  component.TelemetrySettings
}

var (
	_ Hub                 = (*hub)(nil)
	_ extension.Extension = (*hub)(nil)
)

func newHub(set extension.Settings, cfg *Config) (*hub, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	h := &hub{
		logger:      set.Logger,
		telemetry:   tb,
		now:         time.Now,
		max:         cfg.MaxEpisodes,
		active:      map[string]*Episode{},
		subscribers: map[int]func(Event){},
		sources:     map[int]Source{},
		set:         set.TelemetrySettings,
	}
	if pc := cfg.Page.Get(); pc != nil {
		if h.page, err = newPage(pc, h, set.Logger); err != nil {
			return nil, err
		}
	}
	err = tb.RegisterReadinessHubEpisodesActiveCallback(func(_ context.Context, o metric.Int64Observer) error {
		h.mu.RLock()
		defer h.mu.RUnlock()
		o.Observe(int64(len(h.active)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

func (h *hub) Start(ctx context.Context, host component.Host) error {
	if h.page == nil {
		return nil
	}
	return h.page.start(ctx, host, h.set)
}

func (h *hub) Shutdown(ctx context.Context) error {
	var err error
	if h.page != nil {
		err = h.page.shutdown(ctx)
	}
	h.telemetry.Shutdown()
	return err
}

func (h *hub) Publish(ev Event) {
	ep := ev.Episode.Clone()
	h.mu.Lock()
	switch ev.Phase {
	case PhaseStart:
		if ep.SeenAt.IsZero() {
			ep.SeenAt = h.now()
		}
		ep.EndedAt = time.Time{}
		h.active[ep.ID] = &ep
	case PhaseUpdate:
		if cur, ok := h.active[ep.ID]; ok {
			cur.Merge(&ep)
			ep = cur.Clone()
		}
	case PhaseEnd:
		if cur, ok := h.active[ep.ID]; ok {
			cur.Merge(&ep)
			ep = *cur
			delete(h.active, ep.ID)
		}
		if ep.EndedAt.IsZero() {
			ep.EndedAt = h.now()
		}
		h.ended = append(h.ended, ep)
		if len(h.ended) > h.max {
			h.ended = slices.Delete(h.ended, 0, len(h.ended)-h.max)
		}
		ep = ep.Clone()
	}
	subs := make([]func(Event), 0, len(h.subscribers))
	for _, fn := range h.subscribers {
		subs = append(subs, fn)
	}
	h.mu.Unlock()

	h.telemetry.ReadinessHubEvents.Add(context.Background(), 1, metric.WithAttributes(attribute.String("phase", string(ev.Phase))))
	for _, fn := range subs {
		fn(Event{Phase: ev.Phase, Episode: ep.Clone()})
	}
}

func (h *hub) Subscribe(fn func(Event)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.nextID
	h.nextID++
	h.subscribers[id] = fn
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subscribers, id)
	}
}

func (h *hub) RegisterSource(src Source) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.nextID
	h.nextID++
	h.sources[id] = src
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.sources, id)
	}
}

func (h *hub) Sources() []Source {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ids := make([]int, 0, len(h.sources))
	for id := range h.sources {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]Source, len(ids))
	for i, id := range ids {
		out[i] = h.sources[id]
	}
	return out
}

func (h *hub) Episodes() []Episode {
	h.mu.RLock()
	out := make([]Episode, 0, len(h.active)+len(h.ended))
	for _, ep := range h.active {
		out = append(out, ep.Clone())
	}
	for _, ep := range h.ended {
		out = append(out, ep.Clone())
	}
	h.mu.RUnlock()
	slices.SortStableFunc(out, func(a, b Episode) int {
		if c := b.Start.Compare(a.Start); c != 0 {
			return c
		}
		return b.SeenAt.Compare(a.SeenAt)
	})
	return out
}

func (h *hub) FlaggedService(serviceName string, tail time.Duration) (Episode, bool) {
	now := h.now()
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, ep := range h.active {
		if ep.Target.ServiceName == serviceName {
			return ep.Clone(), true
		}
	}
	for i := len(h.ended) - 1; i >= 0; i-- {
		ep := &h.ended[i]
		if ep.Target.ServiceName == serviceName && now.Sub(ep.EndedAt) < tail {
			return ep.Clone(), true
		}
	}
	return Episode{}, false
}

func (h *hub) ReadsHistory() bool { return h.page != nil }

func (h *hub) EpisodeURL(ep Episode) string {
	if h.page == nil {
		return ""
	}
	return h.page.episodeURL(ep)
}
