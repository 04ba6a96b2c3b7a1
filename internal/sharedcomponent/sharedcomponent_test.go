package sharedcomponent

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fake struct {
	starts, shutdowns int
	startErr          error
}

func (f *fake) Start(context.Context, component.Host) error {
	f.starts++
	return f.startErr
}

func (f *fake) Shutdown(context.Context) error {
	f.shutdowns++
	return nil
}

func TestStartOnceShutdownByLastHandle(t *testing.T) {
	m := NewMap[string, *fake]()
	created := 0
	create := func() (*fake, error) { created++; return &fake{}, nil }
	a, err := m.LoadOrStore("k", create)
	require.NoError(t, err)
	b, err := m.LoadOrStore("k", create)
	require.NoError(t, err)
	assert.Equal(t, 1, created)
	assert.Same(t, a.Unwrap(), b.Unwrap())

	host := componenttest.NewNopHost()
	require.NoError(t, a.Start(context.Background(), host))
	require.NoError(t, b.Start(context.Background(), host))
	require.NoError(t, a.Start(context.Background(), host))
	assert.Equal(t, 1, a.Unwrap().starts)

	require.NoError(t, a.Shutdown(context.Background()))
	require.NoError(t, a.Shutdown(context.Background()), "a second Shutdown of a handle releases nothing")
	assert.Equal(t, 0, a.Unwrap().shutdowns, "b still uses the instance")
	assert.Equal(t, 1, m.Len())
	require.NoError(t, b.Shutdown(context.Background()))
	require.NoError(t, b.Shutdown(context.Background()))
	assert.Equal(t, 1, b.Unwrap().shutdowns)
	assert.Equal(t, 0, m.Len())

	// A new pipeline after the shutdown gets a fresh instance.
	c, err := m.LoadOrStore("k", create)
	require.NoError(t, err)
	assert.NotSame(t, a.Unwrap(), c.Unwrap())
	require.NoError(t, c.Shutdown(context.Background()))
}

func TestShutdownWithoutStart(t *testing.T) {
	m := NewMap[string, *fake]()
	h, err := m.LoadOrStore("k", func() (*fake, error) { return &fake{}, nil })
	require.NoError(t, err)
	require.NoError(t, h.Shutdown(context.Background()))
	require.NoError(t, h.Shutdown(context.Background()))
	assert.Equal(t, 0, h.Unwrap().starts)
	assert.Equal(t, 1, h.Unwrap().shutdowns)
	require.NoError(t, h.Start(context.Background(), componenttest.NewNopHost()), "Start after Shutdown does nothing")
	assert.Equal(t, 0, h.Unwrap().starts)
}

func TestStartErrorReachesEveryHandle(t *testing.T) {
	m := NewMap[string, *fake]()
	boom := errors.New("boom")
	create := func() (*fake, error) { return &fake{startErr: boom}, nil }
	a, err := m.LoadOrStore("k", create)
	require.NoError(t, err)
	b, err := m.LoadOrStore("k", create)
	require.NoError(t, err)
	require.ErrorIs(t, a.Start(context.Background(), componenttest.NewNopHost()), boom)
	require.ErrorIs(t, b.Start(context.Background(), componenttest.NewNopHost()), boom)
	assert.Equal(t, 1, a.Unwrap().starts)
	require.NoError(t, a.Shutdown(context.Background()))
	require.NoError(t, b.Shutdown(context.Background()))
}

func TestCreateErrorStoresNothing(t *testing.T) {
	m := NewMap[string, *fake]()
	_, err := m.LoadOrStore("k", func() (*fake, error) { return nil, errors.New("bad config") })
	require.Error(t, err)
	assert.Equal(t, 0, m.Len())
}
