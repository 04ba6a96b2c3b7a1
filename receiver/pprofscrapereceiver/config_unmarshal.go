package pprofscrapereceiver // import "github.com/otelcol-ready/otelcol-ready/receiver/pprofscrapereceiver"

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
	PathPrefix        string            `mapstructure:"path_prefix"`
	ExpvarPath        *string           `mapstructure:"expvar_path"`
	ServiceName       string            `mapstructure:"service_name"`
	ServiceInstanceID string            `mapstructure:"service_instance_id"`
	Attributes        map[string]string `mapstructure:"attributes"`
}

var _ confmap.Unmarshaler = (*TargetConfig)(nil)

// Unmarshal decodes a target. confighttp.ClientConfig has its own Unmarshal, which the embedding would otherwise
// promote and which decodes the client keys only; this one decodes both halves and still rejects unknown keys.
func (t *TargetConfig) Unmarshal(conf *confmap.Conf) error {
	if err := t.ClientConfig.Unmarshal(conf); err != nil {
		return err
	}
	own := targetOwnFields{
		PathPrefix: t.PathPrefix, ExpvarPath: t.ExpvarPath, ServiceName: t.ServiceName,
		ServiceInstanceID: t.ServiceInstanceID, Attributes: t.Attributes,
	}
	if err := conf.Unmarshal(&own, confmap.WithIgnoreUnused()); err != nil {
		return err
	}
	t.PathPrefix, t.ExpvarPath, t.ServiceName = own.PathPrefix, own.ExpvarPath, own.ServiceName
	t.ServiceInstanceID, t.Attributes = own.ServiceInstanceID, own.Attributes

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
