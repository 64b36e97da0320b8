// Package cidrs decides whether a set of CIDR prefixes opens something to
// the whole internet by the addresses the prefixes cover together, not by
// how they are spelled: [0.0.0.0/1, 128.0.0.0/1] is all of IPv4 as much as
// 0.0.0.0/0 is, and "::0/0", "0::/0" and "::ffff:0.0.0.0/96" (every IPv4
// address, written as IPv6) are the whole of their families too. A set
// that leaves out only a few addresses is open to the world as well: the
// world but one /24, or but a /9, counts (see Slack). The stack settings
// (nano:sshAllowedCidrs) and the policy pack use this one test.
package cidrs

import (
	"math/big"
	"net/netip"
	"slices"
	"strings"
)

// Slack is how much of a family a set may leave out and still count as
// open to the world: less than 1/Slack of its addresses (a /8's worth:
// 16.7 million IPv4 addresses). No list of admin networks comes near it;
// a list of everything but a few networks does.
const Slack = 256

// World names the address family the prefixes cover entirely, or all but
// less than 1/Slack of it ("IPv4" or "IPv6"), or "" when they cover
// neither. Values that do not parse as prefixes (or addresses, taken as
// one host) are ignored.
func World(values []string) string {
	var v4, v6 []netip.Prefix
	for _, s := range values {
		p, ok := parse(s)
		if !ok {
			continue
		}
		switch {
		case p.Addr().Is4():
			v4 = append(v4, p)
		case p.Addr().Is4In6() && p.Bits() >= 96:
			// ::ffff:a.b.c.d/n is the IPv4 prefix a.b.c.d/(n-96).
			v4 = append(v4, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked())
			v6 = append(v6, p)
		default:
			v6 = append(v6, p)
		}
	}
	switch {
	case covers(v4, 32):
		return "IPv4"
	case covers(v6, 128):
		return "IPv6"
	}
	return ""
}

func parse(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// covers reports whether the union of prefixes (all of one family of the
// given bit length) is the family's address space but less than 1/Slack
// of it.
func covers(prefixes []netip.Prefix, bits int) bool {
	type span struct{ lo, hi *big.Int } // inclusive
	spans := make([]span, 0, len(prefixes))
	for _, p := range prefixes {
		lo := new(big.Int).SetBytes(p.Addr().AsSlice())
		size := new(big.Int).Lsh(big.NewInt(1), uint(bits-p.Bits()))
		spans = append(spans, span{lo, new(big.Int).Sub(new(big.Int).Add(lo, size), big.NewInt(1))})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.lo.Cmp(b.lo) })
	size := new(big.Int).Lsh(big.NewInt(1), uint(bits))
	next := big.NewInt(0) // the first address not yet covered
	gaps := big.NewInt(0) // addresses left out so far
	for _, s := range spans {
		if s.lo.Cmp(next) > 0 {
			gaps.Add(gaps, new(big.Int).Sub(s.lo, next))
		}
		if s.hi.Cmp(next) >= 0 {
			next = new(big.Int).Add(s.hi, big.NewInt(1))
		}
	}
	gaps.Add(gaps, new(big.Int).Sub(size, next))
	if len(spans) == 0 {
		return false
	}
	// open when gaps * Slack < size
	return new(big.Int).Mul(gaps, big.NewInt(Slack)).Cmp(size) < 0
}
