// Package sharedcomponent lets several pipelines share one component instance: a receiver or exporter
// whose traces, metrics and logs pipelines must use one server, queue or scraper. The instance is created
// by the first pipeline that asks for its key, started by the first Start, and shut down when the last
// pipeline's handle is shut down. Every handle's Start and Shutdown may be called in any order and more
// than once: a second Shutdown, or a Shutdown without Start, releases nothing twice.
//
// The shape follows the collector's shared-component pattern (contrib internal/sharedcomponent): a map
// from configuration to instance, one handle per pipeline. Unlike that package (which shuts the instance
// down at the first Shutdown) it counts handles, so an instance outlives a pipeline that is shut down while
// others still use it. It does not forward component status events to every pipeline's host as contrib's
// does: the instance reports through the host it was started with.
package sharedcomponent // import "github.com/otelcol-ready/otelcol-ready/internal/sharedcomponent"

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// Map holds the shared instances by key (usually the component's *Config).
type Map[K comparable, V component.Component] struct {
	mu        sync.Mutex
	instances map[K]*instance[V]
}

// NewMap returns an empty Map.
func NewMap[K comparable, V component.Component]() *Map[K, V] {
	return &Map[K, V]{instances: map[K]*instance[V]{}}
}

// instance is one shared value with its lifecycle state.
type instance[V component.Component] struct {
	value  V
	remove func()

	mu       sync.Mutex
	handles  int
	started  bool
	startErr error
	stopped  bool
}

// Handle is one pipeline's view of a shared instance; it implements component.Component.
type Handle[V component.Component] struct {
	inst *instance[V]

	mu      sync.Mutex
	started bool
	stopped bool
}

// LoadOrStore returns a new handle on the instance for key, creating the instance with create if there is
// none (or the previous one was shut down).
func (m *Map[K, V]) LoadOrStore(key K, create func() (V, error)) (*Handle[V], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inst, found := m.instances[key]
	if !found {
		v, err := create()
		if err != nil {
			return nil, err
		}
		inst = &instance[V]{value: v}
		inst.remove = func() {
			m.mu.Lock()
			if m.instances[key] == inst {
				delete(m.instances, key)
			}
			m.mu.Unlock()
		}
		m.instances[key] = inst
	}
	inst.mu.Lock()
	inst.handles++
	inst.mu.Unlock()
	return &Handle[V]{inst: inst}, nil
}

// Len is the number of live instances (for tests).
func (m *Map[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.instances)
}

// Unwrap returns the shared value.
func (h *Handle[V]) Unwrap() V { return h.inst.value }

// Start starts the shared instance if no handle has yet; a failed start is returned to every handle.
// Starting a handle again, or after its Shutdown, does nothing.
func (h *Handle[V]) Start(ctx context.Context, host component.Host) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started || h.stopped {
		return nil
	}
	h.started = true
	inst := h.inst
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.stopped {
		return fmt.Errorf("shared component already shut down")
	}
	if !inst.started {
		inst.started = true
		inst.startErr = inst.value.Start(ctx, host)
	}
	return inst.startErr
}

// Shutdown releases this handle once; the last handle released shuts the instance down (also when it
// was never started: components must accept Shutdown without Start).
func (h *Handle[V]) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return nil
	}
	h.stopped = true
	inst := h.inst
	inst.mu.Lock()
	defer inst.mu.Unlock()
	inst.handles--
	if inst.handles > 0 || inst.stopped {
		return nil
	}
	inst.stopped = true
	inst.remove()
	return inst.value.Shutdown(ctx)
}
