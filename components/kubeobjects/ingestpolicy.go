package kubeobjects

import (
	"strconv"

	"github.com/nanosiem/nano/services/contract"
)

// ingestPolicy adds ingest's per-tenant quotas (the tier's budget or the
// stack's override; unset is unlimited) to its env. ClickHouse Cloud has
// no disk of the deployment's to fill: ingest's disk guard is off there.
func (s Spec) ingestPolicy(env map[string]string) {
	q := s.Tier.TenantQuota()
	if q.EPS > 0 {
		env[contract.IngestTenantEPS] = strconv.Itoa(q.EPS)
	}
	if q.GBPerDay > 0 {
		env[contract.IngestTenantGBPerDay] = strconv.Itoa(q.GBPerDay)
	}
	if s.Tier.ClickHouse.Cloud {
		env[contract.IngestMinDiskFreePct] = "0"
	}
}

// diskPolicy adds the api's policy of deleting history for disk room when
// the stack chose one (unset: never).
func (s Spec) diskPolicy(env map[string]string) {
	if pct := s.Tier.Retention.DropOldestBelowPct; pct > 0 && !s.Tier.ClickHouse.Cloud {
		env[contract.DiskDropOldestBelowPct] = strconv.Itoa(pct)
	}
}
