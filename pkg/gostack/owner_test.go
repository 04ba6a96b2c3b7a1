package gostack

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPackagePathAndServiceCode(t *testing.T) {
	tests := []struct {
		function string
		pkg      string
		service  bool
	}{
		{"runtime.gopark", "runtime", false},
		{"runtime.goexit", "runtime", false},
		{"sync.(*Mutex).Lock", "sync", false},
		{"internal/sync.(*Mutex).lockSlow", "internal/sync", false},
		{"internal/poll.(*FD).Read", "internal/poll", false},
		{"net.(*netFD).Read", "net", false},
		{"net/http.(*persistConn).readLoop", "net/http", false},
		{"bufio.(*Reader).fill", "bufio", false},
		{"crypto/tls.(*Conn).Read", "crypto/tls", false},
		{"encoding/json.Unmarshal", "encoding/json", false},
		{"vendor/golang.org/x/net/http2/hpack.(*Decoder).Write", "vendor/golang.org/x/net/http2/hpack", false},
		{"type:.eq.[2]interface {}", "type:", false},
		{"main.lockedUpdater", "main", true},
		{"main.main.func1", "main", true},
		{"github.com/acme/shop/cart.(*Store).Add", "github.com/acme/shop/cart", true},
		{"github.com/acme/shop/cart.Map[go.shape.int,go.shape.string]", "github.com/acme/shop/cart", true},
		{"gopkg.in/yaml%2ev3.(*parser).parse", "gopkg.in/yaml%2ev3", true},
		{"golang.org/x/net/http2.(*serverConn).serve", "golang.org/x/net/http2", true},
		{"nopackage", "", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.pkg, PackagePath(tt.function), tt.function)
		assert.Equal(t, tt.service, IsServiceFunction(tt.function), tt.function)
	}
}

func TestOwner(t *testing.T) {
	tests := []struct {
		name  string
		stack []string // leaf first
		shape Shape
		owner string
		entry string
	}{
		{"mutex waiter: the service function that blocks, not the lock", []string{"runtime.gopark", "sync.runtime_SemacquireMutex", "internal/sync.(*Mutex).lockSlow", "sync.(*Mutex).Lock", "main.lockedUpdater", "main.startUpdaters.func1", "runtime.goexit"}, GoroutineStacks, "main.lockedUpdater", "main.startUpdaters.func1"},
		{"unclosed response body: the standard library goroutine's entry", []string{"runtime.gopark", "internal/poll.(*FD).Read", "net.(*netFD).Read", "bufio.(*Reader).Peek", "net/http.(*persistConn).readLoop", "runtime.goexit"}, GoroutineStacks, "net/http.(*persistConn).readLoop", "net/http.(*persistConn).readLoop"},
		{"dump without goexit", []string{"runtime.gopark", "runtime.chansend1", "main.leakWorker"}, GoroutineStacks, "main.leakWorker", "main.leakWorker"},
		{"allocation in the standard library called by the service", []string{"runtime.mallocgc", "bytes.Repeat", "main.render"}, SampleStacks, "main.render", "main.render"},
		{"allocation with no service frame", []string{"runtime.mallocgc", "compress/flate.NewWriter", "net/http.(*conn).serve", "runtime.goexit"}, SampleStacks, "compress/flate.NewWriter", "net/http.(*conn).serve"},
		{"only runtime frames", []string{"runtime.gcBgMarkWorker", "runtime.goexit"}, SampleStacks, "runtime.gcBgMarkWorker", "runtime.gcBgMarkWorker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner, entry := Owner(len(tt.stack), func(i int) string { return tt.stack[i] }, tt.shape)
			assert.Equal(t, tt.owner, tt.stack[owner])
			assert.Equal(t, tt.entry, tt.stack[entry])
		})
	}
}
