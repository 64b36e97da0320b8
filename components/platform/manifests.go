package platform

import "sort"

// Objects returns every Kubernetes object of the platform, in apply order:
// namespace, workloads, databases, monitoring, isolation.
func Objects(s Spec) ([]Object, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	out := []Object{namespace()}
	for _, svc := range s.services() {
		out = append(out, s.workload(svc)...)
	}
	out = append(out, s.exposure()...)
	if !s.Tier.ClickHouse.Cloud {
		out = append(out, s.clickhouse()...)
	}
	if !s.Tier.Postgres.Managed {
		out = append(out, s.postgres()...)
	}
	out = append(out, s.prometheus()...)
	out = append(out, s.networkPolicies()...)
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
