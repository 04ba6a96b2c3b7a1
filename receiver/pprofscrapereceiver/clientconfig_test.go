package pprofscrapereceiver

import "go.opentelemetry.io/collector/config/confighttp"

type confighttpClientConfig = confighttp.ClientConfig

func newClientConfig() confighttp.ClientConfig { return confighttp.NewDefaultClientConfig() }
