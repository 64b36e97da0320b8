package fetchguard

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// target is a loopback server that counts the requests reaching it: the
// guard's job is that this count stays 0.
type target struct {
	*httptest.Server
	hits atomic.Int64
}

func newTarget(t *testing.T, h http.HandlerFunc) *target {
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) addr(t *testing.T) netip.AddrPort {
	ap, err := netip.ParseAddrPort(tg.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func refused(t *testing.T, err error, want string) {
	t.Helper()
	var re *RefusedError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), want) {
		t.Errorf("want a refusal naming %q, got %v", want, err)
	}
}

// The production guard refuses the deployment's own addresses and names
// before anything is dialled.
func TestCheckHostRefusesInternalDestinations(t *testing.T) {
	t.Parallel()
	g := New()
	for host, want := range map[string]string{
		"127.0.0.1":                         "loopback",
		"::1":                               "loopback",
		"[::1]":                             "loopback",
		"0.0.0.0":                           "unspecified",
		"10.1.2.3":                          "private",
		"172.20.0.5":                        "private",
		"192.168.1.10":                      "private",
		"100.100.100.200":                   "carrier-grade NAT",
		"169.254.169.254":                   "link-local",
		"fe80::1":                           "link-local",
		"fd00:ec2::254":                     "unique local",
		"::ffff:127.0.0.1":                  "loopback",
		"::ffff:10.0.0.1":                   "private",
		"localhost":                         "localhost",
		"LOCALHOST.":                        "localhost",
		"clickhouse":                        "without a dot",
		"prometheus":                        "without a dot",
		"postgres":                          "without a dot",
		"api.localhost":                     ".localhost",
		"metadata.google.internal":          ".internal",
		"search.nano.svc":                   ".svc",
		"clickhouse.nano.svc.cluster.local": ".local",
		"":                                  "no host",
	} {
		refused(t, g.CheckHost(host), want)
	}
	for _, host := range []string{"example.com", "feeds.example.org.", "8.8.8.8", "2606:4700:4700::1111"} {
		if err := g.CheckHost(host); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
}

// The production guard does not fetch from a loopback server, and the
// server sees no request.
func TestProductionGuardRefusesLoopback(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "secret") })
	_, err := get(New().Client(5*time.Second), tg.URL)
	refused(t, err, "loopback")
	if tg.hits.Load() != 0 {
		t.Error("the loopback server was reached")
	}
	// Control alone (what runs after resolution) refuses it too.
	refused(t, New().Control("tcp4", tg.Listener.Addr().String(), nil), "loopback")
}

// The test-only allowance admits exactly one address and port: a
// redirect to another port of the same loopback address, to a
// deployment's service name, to a metadata host name or to a public name
// that resolves inside is refused, and the redirect's target sees
// nothing.
func TestRedirectsAreCheckedAgain(t *testing.T) {
	t.Parallel()
	inner := newTarget(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "clickhouse answers") })
	var to atomic.Value
	outer := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			io.WriteString(w, "public data")
			return
		}
		http.Redirect(w, r, to.Load().(string), http.StatusFound)
	})
	// Names resolve to loopback (as a deployment's would to its own
	// addresses): a guard that failed would reach the test's server, never
	// another address.
	g := New(TestOnlyAllow(outer.addr(t)))
	g.resolver = stubResolver(t, netip.MustParseAddr("127.0.0.1"))
	c := g.Client(5 * time.Second)
	port := itoa(inner.addr(t).Port())
	if body, err := get(c, outer.URL+"/ok"); err != nil || body != "public data" {
		t.Fatalf("the allowed server: %q %v", body, err)
	}
	for target, want := range map[string]string{
		inner.URL + "/?query=SELECT+1":                                     "loopback",
		"http://clickhouse:" + port + "/?query=SELECT+1":                   "without a dot",
		"http://metadata.google.internal:" + port + "/computeMetadata/v1/": ".internal",
		"http://feeds.example.com:" + port + "/":                           "127.0.0.1 is a loopback address",
		"http://[::ffff:127.0.0.1]:" + port + "/":                          "loopback",
	} {
		to.Store(target)
		_, err := get(c, outer.URL+"/redirect")
		refused(t, err, want)
		if err != nil && !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: %v", target, err)
		}
	}
	if inner.hits.Load() != 0 {
		t.Errorf("a redirect reached the refused server %d times", inner.hits.Load())
	}
}

// A public-looking name that resolves to a loopback address (DNS
// rebinding, or a record pointed inside) is refused when the connection
// is made: the check is of the resolved address.
func TestResolvedAddressIsChecked(t *testing.T) {
	t.Parallel()
	inner := newTarget(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "internal") })
	g := New()
	g.resolver = stubResolver(t, netip.MustParseAddr("127.0.0.1"))
	url := "http://feeds.example.com:" + itoa(inner.addr(t).Port()) + "/list.txt"
	_, err := get(g.Client(5*time.Second), url)
	refused(t, err, "127.0.0.1 is a loopback address")
	if err != nil && !strings.Contains(err.Error(), "feeds.example.com") {
		t.Errorf("the error does not name the host: %v", err)
	}
	if inner.hits.Load() != 0 {
		t.Error("a name resolving to loopback reached the server")
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://user:pa55@feeds.example.com/x.csv":       "https://redacted@feeds.example.com/x.csv",
		"https://feeds.example.com/x.csv?key=abc&day=1#f": "https://feeds.example.com/x.csv?day=redacted&key=redacted",
		"https://feeds.example.com/x.csv":                 "https://feeds.example.com/x.csv",
		"http://%zz":                                      "http://(redacted)",
		"not a url":                                       "(redacted)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

// stubResolver answers every A question with addr (and AAAA with
// nothing), over an in-memory stream connection: no DNS server, no
// network.
func stubResolver(t *testing.T, addr netip.Addr) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			for {
				var n uint16
				if err := binary.Read(server, binary.BigEndian, &n); err != nil {
					return
				}
				buf := make([]byte, n)
				if _, err := io.ReadFull(server, buf); err != nil {
					return
				}
				var q dnsmessage.Message
				if err := q.Unpack(buf); err != nil || len(q.Questions) != 1 {
					return
				}
				resp := dnsmessage.Message{Header: dnsmessage.Header{ID: q.ID, Response: true, Authoritative: true}, Questions: q.Questions}
				if q.Questions[0].Type == dnsmessage.TypeA {
					resp.Answers = []dnsmessage.Resource{{
						Header: dnsmessage.ResourceHeader{Name: q.Questions[0].Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 1},
						Body:   &dnsmessage.AResource{A: addr.As4()},
					}}
				}
				out, err := resp.Pack()
				if err != nil {
					t.Error(err)
					return
				}
				if err := binary.Write(server, binary.BigEndian, uint16(len(out))); err != nil {
					return
				}
				if _, err := server.Write(out); err != nil {
					return
				}
			}
		}()
		return client, nil
	}}
}
