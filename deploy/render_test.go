package deploy

import "github.com/otelcol-ready/otelcol-ready/deploy/internal/render"

var renderStale = render.Stale
