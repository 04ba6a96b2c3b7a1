package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/otelcol-ready/otelcol-ready/extension/readinesshubextension"
)

// amAlert is one alert of Alertmanager's API v2 (POST /api/v2/alerts takes a list of them).
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// amResendsAhead: an active alert's endsAt lies this many re-send intervals ahead (as Prometheus does), so a
// late or lost re-send does not resolve it, and it resolves on its own when the collector is gone.
const amResendsAhead = 4

// maxSummaryLen bounds the one-line summary annotation.
const maxSummaryLen = 512

// encodeAlertmanager renders a notification as Alertmanager alerts: firing until a few re-send intervals from
// now while the episode is active, resolved (endsAt = now) at its end.
func encodeAlertmanager(n *notifier, it notifyItem) ([]byte, error) {
	ep := it.episode
	a := amAlert{
		Labels:       alertLabels(ep),
		Annotations:  alertAnnotations(ep, it.url),
		StartsAt:     ep.Start,
		EndsAt:       it.at.Add(amResendsAhead * n.resend),
		GeneratorURL: it.url,
	}
	if it.phase == readinesshubextension.PhaseEnd {
		a.EndsAt = it.at
	}
	if a.StartsAt.IsZero() || a.StartsAt.After(a.EndsAt) {
		// Data time from a clock ahead of the collector's: Alertmanager rejects an alert that ends before it starts.
		a.StartsAt = it.at
		if a.StartsAt.After(a.EndsAt) {
			a.StartsAt = a.EndsAt
		}
	}
	return json.Marshal([]amAlert{a})
}

// alertLabels identifies the alert: the rule, the service instance, the severity and kind, the identity attributes.
func alertLabels(ep readinesshubextension.Episode) map[string]string {
	labels := make(map[string]string, len(ep.Identity)+5)
	for k, v := range ep.Identity {
		if v != "" {
			labels[labelName(k)] = v
		}
	}
	set := func(k, v string) {
		if v != "" {
			labels[k] = v
		}
	}
	set("alertname", ep.Rule)
	set("service_name", ep.Target.ServiceName)
	set("service_instance_id", ep.Target.ServiceInstanceID)
	set("severity", ep.Severity)
	set("kind", ep.Kind)
	return labels
}

// labelName turns an attribute name (k8s.pod.name) into a classic Prometheus label name (k8s_pod_name).
func labelName(k string) string {
	var b strings.Builder
	for i, r := range k {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', i > 0 && r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// alertAnnotations describe the alert: the summary, the first named site, the capture files and the page link.
func alertAnnotations(ep readinesshubextension.Episode, pageURL string) map[string]string {
	ann := map[string]string{"summary": episodeSummary(ep)}
	if len(ep.Sites) > 0 {
		ann["site"] = ep.Sites[0]
	}
	if files := captureFiles(ep); len(files) > 0 {
		ann["captures"] = strings.Join(files, ", ")
	}
	if pageURL != "" {
		ann["readiness_page"] = pageURL
	}
	if ep.EndReason != "" {
		ann["end_reason"] = ep.EndReason
	}
	return ann
}

// episodeSummary is one line: rule, service instance, the values that crossed the rule and the first named site.
func episodeSummary(ep readinesshubextension.Episode) string {
	var b strings.Builder
	b.WriteString(ep.Rule)
	if ep.Severity != "" {
		b.WriteString(" (" + ep.Severity + ")")
	}
	b.WriteString(" on " + ep.Target.ServiceName)
	if ep.Target.ServiceInstanceID != "" {
		b.WriteString("/" + ep.Target.ServiceInstanceID)
	}
	if len(ep.Details) > 0 {
		b.WriteString(":")
		for _, k := range slices.Sorted(maps.Keys(ep.Details)) {
			if k == "top_site" {
				continue
			}
			b.WriteString(" " + k + "=" + ep.Details[k])
		}
	}
	if len(ep.Sites) > 0 {
		b.WriteString("; site " + ep.Sites[0])
	}
	s := strings.Join(strings.Fields(b.String()), " ") // one line
	if len(s) > maxSummaryLen {
		s = s[:maxSummaryLen-3] + "..."
	}
	return s
}

// captureFiles lists the file names of the episode's successful captures.
func captureFiles(ep readinesshubextension.Episode) []string {
	var files []string
	for _, c := range ep.Captures {
		if c.Err == "" && c.Path != "" {
			files = append(files, filepath.Base(c.Path))
		}
	}
	return files
}
