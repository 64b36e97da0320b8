package cidrs

import (
	"net/netip"
	"testing"
)

func TestWorld(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"0.0.0.0/0"}, "IPv4"},
		{[]string{"0.0.0.0/1", "128.0.0.0/1"}, "IPv4"},
		{[]string{"128.0.0.0/1", "0.0.0.0/2", "64.0.0.0/2"}, "IPv4"},
		{[]string{"10.1.2.3/0"}, "IPv4"}, // host bits set: still everything
		{[]string{"::/0"}, "IPv6"},
		{[]string{"::0/0"}, "IPv6"},
		{[]string{"0:0::/0"}, "IPv6"},
		{[]string{"::/1", "8000::/1"}, "IPv6"},
		{[]string{"::ffff:0.0.0.0/96"}, "IPv4"},
		{[]string{"::ffff:0.0.0.0/97", "128.0.0.0/1"}, "IPv4"},
		{[]string{"0.0.0.0/1"}, ""},
		// The world but a few addresses is the world.
		{worldBut(t, "203.0.113.0/24"), "IPv4"},
		{worldBut(t, "203.0.113.7/32"), "IPv4"},
		{worldBut(t, "10.0.0.0/9"), "IPv4"}, // half a /8 left out
		{worldBut(t, "10.0.0.0/8"), ""},     // a /8 is no longer "a few"
		{worldBut(t, "2001:db8::/32"), "IPv6"},
		{[]string{"0.0.0.0/2", "64.0.0.0/2"}, ""},
		{[]string{"0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/4"}, ""}, // misses 240/4
		{[]string{"203.0.113.0/24", "2001:db8::/32"}, ""},
		{[]string{"0.0.0.0/1", "not a cidr", ""}, ""},
		{nil, ""},
	} {
		if got := World(c.in); got != c.want {
			t.Errorf("World(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// worldBut is every IPv4 (or IPv6) address but the hole, as the fewest
// prefixes: each split half that does not hold the hole.
func worldBut(t *testing.T, hole string) []string {
	t.Helper()
	h := netip.MustParsePrefix(hole)
	p := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if h.Addr().Is6() {
		p = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	var out []string
	for p.Bits() < h.Bits() {
		lo := netip.PrefixFrom(p.Addr(), p.Bits()+1)
		hiAddr := p.Addr()
		b := hiAddr.AsSlice()
		bit := p.Bits()
		b[bit/8] |= 0x80 >> (bit % 8)
		hiAddr, _ = netip.AddrFromSlice(b)
		hi := netip.PrefixFrom(hiAddr, p.Bits()+1)
		if lo.Contains(h.Addr()) {
			out, p = append(out, hi.String()), lo
		} else {
			out, p = append(out, lo.String()), hi
		}
	}
	return out
}
