package audit

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// DefaultTrustedProxies are the networks whose X-Forwarded-For nano
// believes: loopback and private ranges, where the deployment's own proxy
// (the Compose host's Caddy, the clusters' ingress controller) runs. The
// services' ports are reachable from those networks only.
var DefaultTrustedProxies = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("fc00::/7"),
}

// ClientIP is where r came from: the peer, or, when the peer is a trusted
// proxy, the right-most address of X-Forwarded-For that is not one (what
// the first untrusted hop reported; addresses left of it could be forged).
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return clip(host, 64)
	}
	peer = peer.Unmap()
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !isTrusted(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	if len(hops) > 32 {
		hops = hops[len(hops)-32:]
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !isTrusted(client) {
			break
		}
	}
	return client.String()
}

// Limiter bounds how many entries unauthenticated requests (failed
// sign-ins) may add: per client address and in all, each a number a
// minute. What it refuses is counted, not recorded, so nobody can fill the
// trail from the Internet.
type Limiter struct {
	PerClient, Total int

	mu      sync.Mutex
	minute  time.Time
	clients map[string]int
	total   int
}

// Allow reports whether one more entry of client may be recorded now.
func (l *Limiter) Allow(client string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := now.Truncate(time.Minute); !m.Equal(l.minute) || l.clients == nil {
		l.minute, l.clients, l.total = m, map[string]int{}, 0
	}
	if l.total >= l.Total || l.clients[client] >= l.PerClient {
		return false
	}
	l.total++
	l.clients[client]++
	return true
}

// ParseTrusted reads a comma-separated list of CIDRs ("" is
// DefaultTrustedProxies).
func ParseTrusted(s string) ([]netip.Prefix, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultTrustedProxies, nil
	}
	var out []netip.Prefix
	for _, c := range strings.Split(s, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8", strings.TrimSpace(c))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
