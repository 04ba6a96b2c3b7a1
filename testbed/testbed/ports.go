package testbed

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. It is picked below the kernel's ephemeral
// range (net.ipv4.ip_local_port_range), because the children's own outgoing connections take ports from that range
// and could otherwise grab a port between this check and the child's listen ("address already in use").
func FreePort(tb testing.TB) int {
	tb.Helper()
	low, high := belowEphemeralRange()
	for range 100 {
		port := low + rand.IntN(high-low)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		return port
	}
	// Nothing free below the ephemeral range: let the kernel choose.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("finding a free loopback port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// belowEphemeralRange returns [low, high) of ports that outgoing connections do not use.
func belowEphemeralRange() (low, high int) {
	low, high = 10000, 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return low, high
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return low, high
	}
	if start, err := strconv.Atoi(fields[0]); err == nil && start > low+1000 {
		high = start
	}
	return low, high
}

// FreeEndpoint returns "127.0.0.1:<free port>".
func FreeEndpoint(tb testing.TB) string {
	tb.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(tb)))
}

func mustLoopback(endpoint string) error {
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("endpoint %q is not on loopback; the testbed only talks to 127.0.0.1", endpoint)
	}
	return nil
}
