package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"

	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
)

// episodeSink receives episode events: the readiness_hub extension, the notifier, or both.
type episodeSink interface {
	Publish(ev readinesshubextension.Event)
}

// fanout hands every event to each of its sinks.
type fanout []episodeSink

func (f fanout) Publish(ev readinesshubextension.Event) {
	for _, s := range f {
		s.Publish(ev)
	}
}

// episodeSink returns where the capture worker reports captures: the hub and the notifier (which ignores the
// episodes of rules that do not notify); nil when there is neither.
func (p *readinessProcessor) episodeSink() episodeSink {
	var f fanout
	if p.hub != nil {
		f = append(f, p.hub)
	}
	if p.notifier != nil {
		f = append(f, p.notifier)
	}
	if len(f) == 0 {
		return nil
	}
	return f
}

// startNotifier builds the notify clients and starts their senders when a notify target is configured.
func (p *readinessProcessor) startNotifier(host component.Host) error {
	if !p.cfg.Notify.enabled() {
		return nil
	}
	n, err := newNotifier(context.Background(), &p.cfg.Notify, host, p.hub, p.telemetrySettings, p.telemetry)
	if err != nil {
		return err
	}
	n.start()
	p.notifier = n
	return nil
}
