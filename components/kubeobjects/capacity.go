package kubeobjects

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/nanosiem/nano/stacks/model/tier"
)

// What a node keeps for the kubelet, the system and DaemonSets: on the
// clouds' managed clusters half a CPU and 15% of its memory (they reserve
// about that on nano's node sizes); k3s (Growth) reserves only its
// eviction threshold by default.
func (s Spec) nodeReserve() (milliCPU int64, allocatablePct int64) {
	if s.Tier.Kind == tier.SinglePool {
		return 0, 97
	}
	return 500, 85
}

// checkCapacity refuses objects whose pods request more CPU or memory than
// the nodes of their pool can give, so an override (nano:appReplicas) that
// could never schedule fails at plan time, naming what to change, rather
// than leaving pods Pending and `pulumi up` waiting. Autoscaled ingest
// counts at its minimum; Enterprise's app pool, sized by its band, is not
// in the spec and not checked.
func (s Spec) checkCapacity(objs []Object) error {
	type use struct {
		milliCPU, memBytes int64
		pods               []string
	}
	uses := map[tier.PoolRole]*use{}
	add := func(pool tier.PoolRole, name string, n int64, pod map[string]any) {
		if n <= 0 || pod == nil {
			return
		}
		u := uses[pool]
		if u == nil {
			u = &use{}
			uses[pool] = u
		}
		for _, c := range asList(pod["containers"]) {
			req := asMap(asMap(asMap(c)["resources"])["requests"])
			cpu, mem := quantity(req["cpu"]), quantity(req["memory"])
			u.milliCPU += n * cpu.MilliValue()
			u.memBytes += n * mem.Value()
		}
		u.pods = append(u.pods, fmt.Sprintf("%d %s", n, name))
	}
	poolOf := func(selector any) tier.PoolRole {
		if p, ok := asMap(selector)[PoolLabel].(string); ok && s.dedicatedPools() {
			return tier.PoolRole(p)
		}
		return tier.General
	}
	for _, o := range objs {
		spec := asMap(o["spec"])
		switch o.Kind() {
		case "Deployment", "StatefulSet":
			pod := asMap(asMap(spec["template"])["spec"])
			n, ok := number(spec["replicas"])
			if !ok && o.Name() == "ingest" && s.IngestPool != nil {
				n = int64(s.IngestPool.Nodes)
			}
			add(poolOf(pod["nodeSelector"]), o.Name(), n, pod)
		case "ClickHouseInstallation":
			pod := podTemplate(spec)
			add(poolOf(pod["nodeSelector"]), "ClickHouse", int64(s.Tier.ClickHouse.Pods()), pod)
		case "ClickHouseKeeperInstallation":
			pod := podTemplate(spec)
			add(poolOf(pod["nodeSelector"]), "Keeper", int64(s.Tier.ClickHouse.KeeperNodes), pod)
		case "Cluster": // CloudNativePG
			n, _ := number(spec["instances"])
			add(poolOf(asMap(spec["affinity"])["nodeSelector"]), "PostgreSQL", n,
				map[string]any{"containers": []any{map[string]any{"resources": spec["resources"]}}})
		}
	}
	var bad []string
	roles := make([]string, 0, len(uses))
	for r := range uses {
		roles = append(roles, string(r))
	}
	sort.Strings(roles)
	for _, r := range roles {
		u := uses[tier.PoolRole(r)]
		pool, ok := s.Tier.Pool(tier.PoolRole(r))
		if r == string(tier.Ingest) && s.IngestPool != nil {
			pool, ok = *s.IngestPool, true
		}
		if !ok || pool.Nodes == 0 {
			continue
		}
		reservedCPU, allocatablePct := s.nodeReserve()
		cpu := int64(pool.Nodes) * (int64(pool.Machine.CPU)*1000 - reservedCPU)
		mem := int64(pool.Nodes) * int64(pool.Machine.MemoryGB) << 30 * allocatablePct / 100
		if u.milliCPU > cpu || u.memBytes > mem {
			bad = append(bad, fmt.Sprintf("the %s pool's pods (%s) request %.1f CPU / %.1f GiB, but its %d x %s nodes can give %.1f CPU / %.1f GiB; lower nano:appReplicas or use larger machines",
				r, strings.Join(u.pods, ", "), float64(u.milliCPU)/1000, float64(u.memBytes)/(1<<30), pool.Nodes, pool.Machine, float64(cpu)/1000, float64(mem)/(1<<30)))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("platform: pods that cannot schedule: %s", strings.Join(bad, "; "))
	}
	return nil
}

func podTemplate(spec map[string]any) map[string]any {
	t := asList(asMap(spec["templates"])["podTemplates"])
	if len(t) == 0 {
		return nil
	}
	return asMap(asMap(t[0])["spec"])
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asList(v any) []any         { l, _ := v.([]any); return l }
func quantity(v any) resource.Quantity {
	s, _ := v.(string)
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return resource.Quantity{}
	}
	return q
}

func number(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		return int64(n), true
	}
	return 0, false
}
