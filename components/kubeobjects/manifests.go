package kubeobjects

import (
	"sort"

	nanolabels "github.com/nanosiem/nano/stacks/model/labels"
)

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
	out = append(out, s.alertmanager()...)
	out = append(out, s.networkPolicies()...)
	// Every object carries the deployment's labels (nano-tier,
	// nano-deployment, managed-by) beside its own.
	for _, o := range out {
		md, _ := o["metadata"].(map[string]any)
		l, _ := md["labels"].(map[string]any)
		if l == nil {
			l = map[string]any{}
			md["labels"] = l
		}
		for k, v := range nanolabels.For(s.Deployment, s.Tier.Name) {
			l[k] = v
		}
	}
	if err := s.checkCapacity(out); err != nil {
		return nil, err
	}
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
