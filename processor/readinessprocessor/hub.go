package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-ready/otelcol-ready/extension/pprofcaptureextension"
	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
)

// findHub resolves the readiness_hub extension the processor publishes to: the named one (an error when missing),
// else the only one present, else none (publishing is optional).
func (p *readinessProcessor) findHub(host component.Host) (readinesshubextension.Hub, error) {
	hub, err := readinesshubextension.FindHub(host, p.cfg.HubExtension)
	switch {
	case err == nil:
		return hub, nil
	case p.cfg.HubExtension != nil:
		return nil, fmt.Errorf("hub_extension: %w", err)
	case errors.Is(err, readinesshubextension.ErrNoHub):
		return nil, nil
	default:
		return nil, fmt.Errorf("%w (or set hub_extension)", err)
	}
}

// episodeID names an episode the same way in its start, update and end events.
func (p *readinessProcessor) episodeID(t transition) string {
	id := t.series.key + "\x00" + t.rule.name
	if st := p.episodeState(t); st != nil {
		id += "\x00" + strconv.FormatInt(st.since, 10)
	}
	return id
}

// publish hands an episode's start or end to the hub, when there is one, and to the notifier when the rule notifies.
func (p *readinessProcessor) publish(t transition) {
	toNotifier := p.notifier != nil && t.rule.notify
	if (p.hub == nil && !toNotifier) || t.followUp {
		return
	}
	ep := readinesshubextension.Episode{
		ID:       p.episodeID(t),
		Rule:     t.rule.name,
		Kind:     t.rule.kind,
		Severity: t.rule.severity,
		Target:   t.series.target,
		Identity: make(map[string]string, len(t.series.identity)),
		Details:  t.details,
	}
	for _, a := range t.series.identity {
		ep.Identity[a.key] = a.value
	}
	if site := t.details["top_site"]; site != "" {
		ep.Sites = []string{site}
	}
	phase := readinesshubextension.PhaseStart
	ep.Start = time.Unix(0, t.at).UTC()
	if st := p.episodeState(t); st != nil && st.since != 0 {
		ep.Start = time.Unix(0, st.since).UTC()
	}
	if !t.start {
		phase = readinesshubextension.PhaseEnd
		ep.End = time.Unix(0, t.at).UTC()
		ep.EndReason = t.reason
	}
	ev := readinesshubextension.Event{Phase: phase, Episode: ep}
	if p.hub != nil {
		p.hub.Publish(ev)
	}
	if toNotifier {
		p.notifier.Publish(ev)
	}
}

// publishCaptures reports the captures of an episode and the functions they name (attributionSites lines), the
// start's site first.
func publishCaptures(hub episodeSink, job captureJob, results []pprofcaptureextension.Result, named []string, at time.Time) {
	if hub == nil || job.episodeID == "" {
		return
	}
	ep := readinesshubextension.Episode{ID: job.episodeID}
	if site := job.request.Details["top_site"]; site != "" {
		ep.Sites = append(ep.Sites, site)
	}
	for _, site := range named {
		site, _, _ = strings.Cut(site, " ") // the function, without file, line and counts
		if !slices.Contains(ep.Sites, site) {
			ep.Sites = append(ep.Sites, site)
		}
	}
	for _, res := range results {
		c := readinesshubextension.Capture{
			Kind: string(res.Kind), Path: res.Path, Size: res.Size, Time: at,
			SampleType: res.SampleType, Summary: res.Summary,
		}
		if res.Err != nil {
			c.Err = res.Err.Error()
		}
		ep.Captures = append(ep.Captures, c)
	}
	hub.Publish(readinesshubextension.Event{Phase: readinesshubextension.PhaseUpdate, Episode: ep})
}
