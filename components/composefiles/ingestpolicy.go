package composefiles

import (
	"strconv"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/stacks/model/tier"
)

// withTenantQuota adds ingest's per-tenant quotas (the tier's budget or
// the stack's override; unset is unlimited) to env.
func withTenantQuota(t tier.Spec, env map[string]string) map[string]string {
	q := t.TenantQuota()
	if q.EPS > 0 {
		env[contract.IngestTenantEPS] = strconv.Itoa(q.EPS)
	}
	if q.GBPerDay > 0 {
		env[contract.IngestTenantGBPerDay] = strconv.Itoa(q.GBPerDay)
	}
	return env
}

// withDiskPolicy adds the api's policy of deleting history for disk room
// when the stack chose one (unset: never).
func withDiskPolicy(t tier.Spec, env map[string]string) map[string]string {
	if pct := t.Retention.DropOldestBelowPct; pct > 0 {
		env[contract.DiskDropOldestBelowPct] = strconv.Itoa(pct)
	}
	return env
}
