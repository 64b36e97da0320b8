// Package fetchguard is the SSRF guard of every fetch a nano service makes
// on a caller's behalf (today: enrichment dataset sources). A tenant names
// a URL; the service must never become that tenant's way into the
// deployment's own network: its ClickHouse, PostgreSQL, Prometheus, the
// other services, the cloud's metadata endpoint or anything else on a
// loopback, private, link-local, carrier-grade NAT or unique-local address.
//
// Two checks, both on every connection (the first request and every
// redirect):
//   - the host name before it is resolved (CheckHost): IP literals of those
//     ranges, "localhost", names without a dot (Compose and Kubernetes
//     service names such as clickhouse or prometheus, and names a search
//     domain would complete) and internal suffixes (.local, .internal,
//     .svc, ...), for a clear error before anything is dialled;
//   - the address actually dialled, in the dialer's Control function, after
//     DNS resolution (code.dny.dev/ssrf, which tracks IANA's
//     special-purpose registries), so a name that resolves, or re-resolves
//     (DNS rebinding), to an internal address is refused at connect time.
//
// The client uses no proxy from the environment (a proxy would make the
// connection on the guard's behalf), bounds redirects, time and, through
// its callers, size.
package fetchguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// MaxRedirects bounds the redirects one fetch follows.
const MaxRedirects = 5

// RefusedError is a destination the guard refuses.
type RefusedError struct {
	// Host is the name or address asked for; Addr the resolved address
	// when the refusal came at connect time.
	Host, Addr string
	Reason     string
}

func (e *RefusedError) Error() string {
	if e.Addr != "" && e.Addr != e.Host {
		return fmt.Sprintf("refused %s (resolved to %s): %s; only public addresses are fetched", e.Host, e.Addr, e.Reason)
	}
	return fmt.Sprintf("refused %s: %s; only public addresses are fetched", e.Host, e.Reason)
}

// Guard decides where fetches may connect. The zero value is not usable:
// take New.
type Guard struct {
	ssrf *ssrf.Guardian
	// allow holds exact addresses a test harness serves on (TestOnlyAllow);
	// nothing in a service's configuration sets it.
	allow []netip.AddrPort
	// resolver replaces the system's (tests: a name that resolves to a
	// loopback address, as DNS rebinding would make it).
	resolver *net.Resolver
}

// Option changes a Guard.
type Option func(*Guard)

// TestOnlyAllow lets the guard connect to exactly these addresses (a test's
// own loopback server, address and port). It exists for tests: no service
// reads it from its configuration, so a deployment cannot set it, and
// every other address of the same ranges (another port of the same
// loopback address included) stays refused.
func TestOnlyAllow(addrs ...netip.AddrPort) Option {
	return func(g *Guard) { g.allow = append(g.allow, addrs...) }
}

// New is the production guard: every internal range refused.
func New(opts ...Option) *Guard {
	g := &Guard{ssrf: ssrf.New(ssrf.WithAnyPort())}
	for _, o := range opts {
		o(g)
	}
	return g
}

// internalSuffixes are DNS suffixes that name hosts inside a network, never
// a public source.
var internalSuffixes = []string{".localhost", ".local", ".internal", ".svc", ".lan", ".home.arpa", ".intranet", ".corp"}

// CheckHost refuses a host name or address that is the deployment's own or
// another internal one, before anything is resolved or dialled. Names
// that pass may still resolve to an internal address: Control catches
// those.
func (g *Guard) CheckHost(host string) error {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if h == "" {
		return &RefusedError{Host: host, Reason: "no host"}
	}
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		if slices.Contains(g.allowedAddrs(), ip) {
			return nil
		}
		if reason := g.refuseIP(netip.AddrPortFrom(ip, 0), true); reason != "" {
			return &RefusedError{Host: host, Reason: reason}
		}
		return nil
	}
	switch {
	case h == "localhost":
		return &RefusedError{Host: host, Reason: "localhost is this machine"}
	case !strings.Contains(h, "."):
		return &RefusedError{Host: host, Reason: "a name without a dot is a service of the deployment (such as clickhouse, postgres or prometheus) or a search-domain name, never a public source"}
	}
	for _, s := range internalSuffixes {
		if strings.HasSuffix(h, s) {
			return &RefusedError{Host: host, Reason: fmt.Sprintf("names under %s are internal", s)}
		}
	}
	return nil
}

func (g *Guard) allowedAddrs() []netip.Addr {
	out := make([]netip.Addr, len(g.allow))
	for i, a := range g.allow {
		out[i] = a.Addr()
	}
	return out
}

// refuseIP says why ap may not be dialled ("" when it may). literal is a
// check of an address without a port (CheckHost): the exact allowance is
// then decided at connect time.
func (g *Guard) refuseIP(ap netip.AddrPort, literal bool) string {
	if !literal && slices.Contains(g.allow, ap) {
		return ""
	}
	ip := ap.Addr()
	port := ap.Port()
	if port == 0 {
		port = 443
	}
	if err := g.ssrf.Safe("tcp"+family(ip), netip.AddrPortFrom(ip, port).String(), nil); err == nil {
		return ""
	}
	return describe(ip)
}

func family(ip netip.Addr) string {
	if ip.Is4() {
		return "4"
	}
	return "6"
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// describe names the kind of a refused address.
func describe(ip netip.Addr) string {
	u := ip.Unmap()
	switch {
	case u.IsLoopback():
		return u.String() + " is a loopback address"
	case u.IsUnspecified():
		return u.String() + " is the unspecified address"
	case u.IsLinkLocalUnicast():
		return u.String() + " is a link-local address (the cloud metadata endpoint is one)"
	case u.Is4() && u.IsPrivate():
		return u.String() + " is a private address (RFC 1918)"
	case u.Is6() && u.IsPrivate():
		return u.String() + " is a unique local address (IPv6 ULA)"
	case cgnat.Contains(u):
		return u.String() + " is a carrier-grade NAT address (RFC 6598)"
	case u.IsMulticast():
		return u.String() + " is a multicast address"
	case ip.Is4In6():
		return ip.String() + " is an IPv4-mapped IPv6 address"
	}
	return u.String() + " is a special-purpose address (IANA registries)"
}

// Control is the dialer's check of the resolved address, run for every
// connection just before it is made.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Host: address, Reason: "not an address and port"}
	}
	if !strings.HasPrefix(network, "tcp") {
		return &RefusedError{Host: address, Reason: "only TCP"}
	}
	if reason := g.refuseIP(ap, false); reason != "" {
		return &RefusedError{Host: address, Addr: ap.Addr().String(), Reason: reason}
	}
	return nil
}

// Client is an HTTP client that connects only where the guard allows, on
// the first request and every redirect, within timeout overall.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.Control, Resolver: g.resolver}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy: nil, // a proxy would connect on the guard's behalf
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, _, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				if err := g.CheckHost(host); err != nil {
					return nil, err
				}
				conn, err := dialer.DialContext(ctx, network, addr)
				var refused *RefusedError
				if errors.As(err, &refused) {
					refused.Host = host
					return nil, refused
				}
				return conn, err
			},
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: time.Minute,
			MaxIdleConns:          4,
			IdleConnTimeout:       30 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > MaxRedirects {
				return fmt.Errorf("more than %d redirects", MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("a redirect to a %s URL; only http and https", req.URL.Scheme)
			}
			if err := g.CheckHost(req.URL.Hostname()); err != nil {
				return fmt.Errorf("a redirect to %s: %w", Redact(req.URL.String()), err)
			}
			return nil
		},
	}
}

// Redact is a URL as it may be shown back: a user name and password are
// replaced, every query value and the fragment are hidden (sources embed
// API keys in both). What does not parse as a URL is shown as its scheme
// only.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		if i := strings.Index(raw, "://"); i > 0 && i < 10 {
			return raw[:i] + "://(redacted)"
		}
		return "(redacted)"
	}
	if u.User != nil {
		u.User = url.User("redacted")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"redacted"}
		}
		u.RawQuery = q.Encode()
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}
