package kubeobjects

import (
	"strings"
	"testing"

	"github.com/nanosiem/nano/stacks/model/tier"
)

// An override whose pods cannot fit their pool's nodes fails at plan time,
// naming the pool and what to change; the catalog's own tiers fit.
func TestPodsThatCannotScheduleAreRefused(t *testing.T) {
	t.Parallel()
	for _, name := range []tier.Name{tier.Growth, tier.Team, tier.Business, tier.Pro, tier.Enterprise} {
		if _, err := Objects(specFor(t, name)); err != nil {
			t.Errorf("%s as the catalog has it: %v", name, err)
		}
	}
	s := specFor(t, tier.Team)
	s.Tier.Replicas = 40 // 3 x 4 CPU nodes cannot hold 160 app pods
	_, err := Objects(s)
	if err == nil || !strings.Contains(err.Error(), "the general pool's pods (40 api, 40 search, 40 web, 40 ingest") || !strings.Contains(err.Error(), "lower nano:appReplicas") {
		t.Errorf("team with 40 replicas: %v", err)
	}
	p := specFor(t, tier.Pro)
	p.Tier.Replicas = 30
	if _, err := Objects(p); err == nil || !strings.Contains(err.Error(), "pool's pods") {
		t.Errorf("pro with 30 replicas: %v", err)
	}
}
