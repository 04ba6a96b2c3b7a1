package promscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/promscrapereceiver"

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"
)

// targetOwnFields are the TargetConfig keys that are not confighttp client keys.
type targetOwnFields struct {
	ServiceName       string `mapstructure:"service_name"`
	ServiceInstanceID string `mapstructure:"service_instance_id"`
}

var _ confmap.Unmarshaler = (*TargetConfig)(nil)

// Unmarshal decodes a target. confighttp.ClientConfig has its own Unmarshal, which the embedding would otherwise
// promote and which decodes the client keys only (service_name would be dropped silently); this one decodes both
// halves and still rejects unknown keys.
func (t *TargetConfig) Unmarshal(conf *confmap.Conf) error {
	if err := t.ClientConfig.Unmarshal(conf); err != nil {
		return err
	}
	own := targetOwnFields{ServiceName: t.ServiceName, ServiceInstanceID: t.ServiceInstanceID}
	if err := conf.Unmarshal(&own, confmap.WithIgnoreUnused()); err != nil {
		return err
	}
	t.ServiceName, t.ServiceInstanceID = own.ServiceName, own.ServiceInstanceID

	known := append(mapstructureKeys(reflect.TypeFor[confighttp.ClientConfig]()), mapstructureKeys(reflect.TypeFor[targetOwnFields]())...)
	var unknown []string
	for _, k := range conf.AllKeys() {
		top, _, _ := strings.Cut(k, confmap.KeyDelimiter)
		if !slices.Contains(known, top) && !slices.Contains(unknown, top) {
			unknown = append(unknown, top)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown target keys %v", unknown)
	}
	return nil
}

func mapstructureKeys(typ reflect.Type) []string {
	keys := make([]string, 0, typ.NumField())
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("mapstructure"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}
