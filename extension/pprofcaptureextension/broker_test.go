package pprofcaptureextension

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
)

// fakeCapturer owns a fixed set of targets and records the requests it serves.
type fakeCapturer struct {
	owned    map[TargetKey]bool
	refuse   error
	requests []Request
}

func (f *fakeCapturer) Owns(t TargetKey) bool { return f.owned[t] }

func (f *fakeCapturer) Capture(_ context.Context, req Request) ([]Result, error) {
	if f.refuse != nil {
		return nil, f.refuse
	}
	f.requests = append(f.requests, req)
	results := make([]Result, 0, len(req.Kinds))
	for _, k := range req.Kinds {
		results = append(results, Result{Kind: k, Path: "/captures/" + string(k), Summary: []SummaryEntry{{Function: "main.grow", Value: 7}}})
	}
	return results, nil
}

var (
	checkout = TargetKey{ServiceName: "checkout", ServiceInstanceID: "pod-1"}
	payments = TargetKey{ServiceName: "payments", ServiceInstanceID: "pod-7"}
)

func TestBrokerRoutesToOwner(t *testing.T) {
	b := NewBroker()
	first := &fakeCapturer{owned: map[TargetKey]bool{checkout: true}}
	second := &fakeCapturer{owned: map[TargetKey]bool{payments: true}}
	defer b.Register(first)()
	defer b.Register(second)()

	results, err := b.Capture(context.Background(), Request{Target: payments, Kinds: []Kind{KindHeap, KindGoroutine}, Reason: "rule"})
	require.NoError(t, err)
	require.Len(t, results, 2)
	assert.Equal(t, KindHeap, results[0].Kind)
	assert.Empty(t, first.requests)
	require.Len(t, second.requests, 1)
	assert.Equal(t, "rule", second.requests[0].Reason)
}

func TestBrokerRefusals(t *testing.T) {
	b := NewBroker()
	limited := &fakeCapturer{owned: map[TargetKey]bool{checkout: true}, refuse: ErrRateLimited}
	unregister := b.Register(limited)

	tests := []struct {
		name string
		req  Request
		want error
	}{
		{name: "unknown target", req: Request{Target: payments, Kinds: []Kind{KindHeap}}, want: ErrUnknownTarget},
		{name: "refused by capturer", req: Request{Target: checkout, Kinds: []Kind{KindHeap}}, want: ErrRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Capture(context.Background(), tt.req)
			assert.ErrorIs(t, err, tt.want)
		})
	}

	_, err := b.Capture(context.Background(), Request{Target: checkout})
	assert.ErrorContains(t, err, "no kind")

	unregister()
	unregister() // idempotent
	_, err = b.Capture(context.Background(), Request{Target: checkout, Kinds: []Kind{KindHeap}})
	assert.ErrorIs(t, err, ErrUnknownTarget)
}

type notABroker struct {
	component.StartFunc
	component.ShutdownFunc
}

type hostWithExtensions struct {
	component.Host
	extensions map[component.ID]component.Component
}

func (h hostWithExtensions) GetExtensions() map[component.ID]component.Component { return h.extensions }

func TestFindBroker(t *testing.T) {
	factory := NewFactory()
	ext, err := factory.Create(context.Background(), extensiontest.NewNopSettings(factory.Type()), factory.CreateDefaultConfig())
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()

	defaultID := component.NewID(factory.Type())
	namedID := component.NewIDWithName(factory.Type(), "second")
	otherID := component.MustNewID("zpages")

	one := hostWithExtensions{extensions: map[component.ID]component.Component{defaultID: ext, otherID: notABroker{}}}
	got, err := FindBroker(one, nil)
	require.NoError(t, err)
	assert.Same(t, ext, got)

	got, err = FindBroker(one, &defaultID)
	require.NoError(t, err)
	assert.Same(t, ext, got)

	_, err = FindBroker(one, &namedID)
	assert.ErrorContains(t, err, `"pprofcapture/second" not found`)

	_, err = FindBroker(one, &otherID)
	assert.ErrorContains(t, err, "not a pprofcapture extension")

	two := hostWithExtensions{extensions: map[component.ID]component.Component{defaultID: ext, namedID: ext}}
	_, err = FindBroker(two, nil)
	assert.ErrorContains(t, err, "name one")

	_, err = FindBroker(hostWithExtensions{}, nil)
	assert.True(t, errors.Is(err, ErrNoBroker))
}
