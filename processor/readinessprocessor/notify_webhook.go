package readinessprocessor // import "github.com/otelcol-ready/otelcol-ready/processor/readinessprocessor"

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// webhookSchemaVersion is the version of the webhook document (README: "Webhook document").
const webhookSchemaVersion = "1"

// WebhookEvent is the JSON document posted to notify.webhook.endpoint on an episode's start, update and end.
type WebhookEvent struct {
	Version string `json:"version"`
	// Phase: start, update (captures taken, sites named) or end.
	Phase string `json:"phase"`
	// SentAt is the collector clock when the event happened.
	SentAt  time.Time      `json:"sent_at"`
	Episode WebhookEpisode `json:"episode"`
}

// WebhookEpisode describes the episode, with everything known about it at the time of the event.
type WebhookEpisode struct {
	// ID is the same in the start, update and end events of one episode.
	ID                string            `json:"id"`
	Rule              string            `json:"rule"`
	Kind              string            `json:"kind"`
	Severity          string            `json:"severity"`
	ServiceName       string            `json:"service_name"`
	ServiceInstanceID string            `json:"service_instance_id,omitempty"`
	Identity          map[string]string `json:"identity,omitempty"`
	// Start and End are data times; End only in the end event.
	Start     time.Time         `json:"start"`
	End       *time.Time        `json:"end,omitempty"`
	EndReason string            `json:"end_reason,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
	Summary   string            `json:"summary"`
	Sites     []string          `json:"sites,omitempty"`
	Captures  []WebhookCapture  `json:"captures,omitempty"`
	// URL is the readiness page of the episode, when the readiness_hub serves one.
	URL string `json:"url,omitempty"`
}

// WebhookCapture is one profile taken for the episode.
type WebhookCapture struct {
	Kind  string `json:"kind"`
	Path  string `json:"path,omitempty"`
	Size  int64  `json:"size,omitempty"`
	Error string `json:"error,omitempty"`
}

func encodeWebhook(_ *notifier, it notifyItem) ([]byte, error) {
	ep := it.episode
	sum := sha256.Sum256([]byte(ep.ID))
	doc := WebhookEvent{
		Version: webhookSchemaVersion,
		Phase:   string(it.phase),
		SentAt:  it.at,
		Episode: WebhookEpisode{
			ID:   hex.EncodeToString(sum[:8]),
			Rule: ep.Rule, Kind: ep.Kind, Severity: ep.Severity,
			ServiceName: ep.Target.ServiceName, ServiceInstanceID: ep.Target.ServiceInstanceID,
			Identity: ep.Identity, Start: ep.Start, EndReason: ep.EndReason, Details: ep.Details,
			Summary: episodeSummary(ep), Sites: ep.Sites, URL: it.url,
		},
	}
	if !ep.End.IsZero() {
		end := ep.End
		doc.Episode.End = &end
	}
	for _, c := range ep.Captures {
		doc.Episode.Captures = append(doc.Episode.Captures, WebhookCapture{Kind: c.Kind, Path: c.Path, Size: c.Size, Error: c.Err})
	}
	return json.Marshal(doc)
}
