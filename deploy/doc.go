// Package deploy holds the deployment artifacts of otelcol-ready (container image recipe, Kubernetes manifests,
// OpenTelemetry Operator resource, Helm values) and their tests: every manifest decodes strictly into the
// Kubernetes API types, every embedded collector config passes `otelcol-ready validate`, the configs taken from the
// manifests run as real processes (demo service -> sidecar -> gateway -> backend), and both tiers shut down within
// their grace period without losing what they hold. The files that embed a shipped config are generated:
// `go run ./deploy/gen`.
package deploy
