package kubeobjects

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nanosiem/nano/stacks/model/tier"
)

// The api may fetch enrichment datasets from the public internet over
// HTTP(S), and only there: not private networks, not the clouds' metadata
// endpoint; search and ingest reach their databases only (in the cluster;
// Enterprise's are managed services outside it, on their ports).
func TestOnlyTheAPIReachesTheInternet(t *testing.T) {
	t.Parallel()
	for _, name := range []tier.Name{tier.Growth, tier.Pro, tier.Enterprise} {
		objs := objects(t, specFor(t, name))
		api := fmt.Sprint(get(t, find(t, objs, "NetworkPolicy", "api"), "spec", "egress"))
		for _, want := range []string{"cidr:0.0.0.0/0", "169.254.0.0/16", "10.0.0.0/8", "port:443", "port:80"} {
			if !strings.Contains(api, want) {
				t.Errorf("%s: the api's egress lacks %s: %s", name, want, api)
			}
		}
		for _, svc := range []string{"search", "ingest"} {
			if eg := fmt.Sprint(get(t, find(t, objs, "NetworkPolicy", svc), "spec", "egress")); strings.Contains(eg, "0.0.0.0/0") && name != tier.Enterprise {
				t.Errorf("%s: %s may reach the internet: %s", name, svc, eg)
			}
		}
	}
}
