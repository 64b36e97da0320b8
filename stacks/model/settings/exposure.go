package settings

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/nanosiem/nano/stacks/model/cidrs"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// KubeAPICIDRsFor is the allow-list of the Kubernetes API as provider p can
// express nano:kubeApiAllowedCidrs, or why it cannot. A list is only ever
// narrowed, never widened:
//
//   - EKS (publicAccessCidrs), GKE (master authorized networks) and Civo's
//     firewall take IPv4 CIDRs only: IPv6 entries are left out (those
//     clients cannot reach the API), and a list with no IPv4 entry is
//     refused: EKS treats an empty publicAccessCidrs as 0.0.0.0/0, a Civo
//     rule without sources is no allow-list, and GKE would admit no
//     network pulumi up runs from.
//   - Vultr's VKE has no API allow-list nano can set: a list narrower than
//     the whole internet is refused rather than silently ignored.
//   - Hetzner (Growth's firewall) takes both families as given.
func KubeAPICIDRsFor(p tier.Provider, in []string) ([]string, error) {
	var v4 []string
	for _, c := range in {
		if pr, err := netip.ParsePrefix(c); err == nil && pr.Addr().Is4() {
			v4 = append(v4, c)
		}
	}
	switch p {
	case tier.AWS, tier.GCP, tier.Civo:
		if len(v4) == 0 {
			why := map[tier.Provider]string{
				tier.AWS:  "EKS treats an empty publicAccessCidrs as 0.0.0.0/0 (the whole internet)",
				tier.GCP:  "GKE's authorized networks would admit no network pulumi up runs from",
				tier.Civo: "Civo's firewall rule for 6443 would have no sources",
			}[p]
			return nil, fmt.Errorf("%s:%s: %s's API allow-list takes IPv4 CIDRs only and %q has none: %s; list the IPv4 networks pulumi up runs from",
				Namespace, KeyKubeAPICIDRs, p, strings.Join(in, ", "), why)
		}
		return v4, nil
	case tier.Vultr:
		if cidrs.World(v4) == "" {
			return nil, fmt.Errorf("%s:%s: Vultr's VKE has no Kubernetes API allow-list nano can set (the API is public, authenticated by the kubeconfig's client certificate), so %q cannot be enforced; remove the key or deploy on another cloud",
				Namespace, KeyKubeAPICIDRs, strings.Join(in, ", "))
		}
		return in, nil
	}
	return in, nil
}
