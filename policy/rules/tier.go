package rules

import (
	"fmt"
	"slices"
)

// appServices are the workloads the tier's replica count applies to.
var appServices = []string{"api", "search", "web", "ingest"}

var tierRules = []*Rule{
	{
		ID: "tier-ha-workloads", Level: Mandatory,
		Description: "On HA tiers, api, search, web and ingest run at least 2 replicas (the tier's count, or a HorizontalPodAutoscaler's minimum of at least 2), spread by pod anti-affinity and guarded by a PodDisruptionBudget.",
		Remediation: "Keep nano:appReplicas at 2 or more, and keep the platform's anti-affinity and PodDisruptionBudgets.",
		CheckStack: func(rs []Resource, env Env) []Finding {
			if !env.HasTier || !env.Tier.HA {
				return nil
			}
			var pdbs []map[string]any          // namespace + matchLabels
			autoscaled := map[string]float64{} // namespace/deployment: the autoscaler's minimum
			for _, r := range rs {
				switch r.Type {
				case "kubernetes:policy/v1:PodDisruptionBudget":
					pdbs = append(pdbs, map[string]any{"ns": str(get(r.Props, "metadata", "namespace")), "sel": asMap(get(r.Props, "spec", "selector", "matchLabels"))})
				case "kubernetes:autoscaling/v2:HorizontalPodAutoscaler":
					if str(get(r.Props, "spec", "scaleTargetRef", "kind")) == "Deployment" {
						n, _ := number(get(r.Props, "spec", "minReplicas"))
						autoscaled[str(get(r.Props, "metadata", "namespace"))+"/"+str(get(r.Props, "spec", "scaleTargetRef", "name"))] = n
					}
				}
			}
			var out []Finding
			for _, r := range rs {
				name := str(get(r.Props, "metadata", "name"))
				if r.Type != "kubernetes:apps/v1:Deployment" || !slices.Contains(appServices, name) {
					continue
				}
				n, ok := number(get(r.Props, "spec", "replicas"))
				if min, scaled := autoscaled[str(get(r.Props, "metadata", "namespace"))+"/"+name]; scaled && !ok {
					n, ok = min, true
				}
				if !ok || n < 2 {
					out = append(out, Finding{r.URN, fmt.Sprintf("Deployment %s runs %v replicas; the %s tier needs at least 2 (catalog: %d)", name, n, env.Tier.Name, env.Tier.Replicas)})
				}
				anti := get(r.Props, "spec", "template", "spec", "affinity", "podAntiAffinity")
				if len(list(get(anti, "requiredDuringSchedulingIgnoredDuringExecution")))+len(list(get(anti, "preferredDuringSchedulingIgnoredDuringExecution"))) == 0 {
					out = append(out, Finding{r.URN, fmt.Sprintf("Deployment %s has no pod anti-affinity", name)})
				}
				podLabels := asMap(get(r.Props, "spec", "template", "metadata", "labels"))
				ns := str(get(r.Props, "metadata", "namespace"))
				guarded := false
				for _, p := range pdbs {
					sel := p["sel"].(map[string]any)
					if p["ns"] != ns || len(sel) == 0 {
						continue
					}
					match := true
					for k, v := range sel {
						if podLabels[k] != v {
							match = false
						}
					}
					guarded = guarded || match
				}
				if !guarded {
					out = append(out, Finding{r.URN, fmt.Sprintf("Deployment %s has no PodDisruptionBudget", name)})
				}
			}
			return out
		},
	},
	{
		ID: "tier-clickhouse-replication", Level: Mandatory,
		Description: "Replicated ClickHouse runs the tier's shards with at least 2 replicas each, coordinated by a 3-node Keeper.",
		Remediation: "Keep the ClickHouseInstallation layout from the tier catalog and a ClickHouseKeeperInstallation of 3 replicas.",
		Check: func(r Resource, env Env) []string {
			var out []string
			switch kind(r) {
			case "ClickHouseInstallation":
				for _, c := range list(get(r.Props, "spec", "configuration", "clusters")) {
					replicas, ok := number(get(c, "layout", "replicasCount"))
					if !ok {
						continue
					}
					if replicas < 2 {
						out = append(out, fmt.Sprintf("cluster %s has %v replica per shard; replicated ClickHouse needs at least 2", str(get(c, "name")), replicas))
					}
					if env.HasTier && env.Tier.ClickHouse.Operator {
						shards, _ := number(get(c, "layout", "shardsCount"))
						if int(replicas) < env.Tier.ClickHouse.Replicas || int(shards) != env.Tier.ClickHouse.Shards {
							out = append(out, fmt.Sprintf("cluster %s is %v shards x %v replicas; the %s tier is %d x %d", str(get(c, "name")), shards, replicas,
								env.Tier.Name, env.Tier.ClickHouse.Shards, env.Tier.ClickHouse.Replicas))
						}
					}
				}
			case "ClickHouseKeeperInstallation":
				for _, c := range list(get(r.Props, "spec", "configuration", "clusters")) {
					if n, ok := number(get(c, "layout", "replicasCount")); ok && n != 3 {
						out = append(out, fmt.Sprintf("Keeper cluster %s has %v nodes; a quorum that survives a node loss needs 3", str(get(c, "name")), n))
					}
				}
			}
			return out
		},
	},
	{
		ID: "tier-postgres-instances", Level: Mandatory,
		Description: "The CloudNativePG cluster runs the tier's number of PostgreSQL instances.",
		Remediation: "Keep spec.instances at the tier catalog's count (Growth 1, Team and Business 2, Pro 3).",
		Check: func(r Resource, env Env) []string {
			if r.Type != "kubernetes:postgresql.cnpg.io/v1:Cluster" || !env.HasTier || !env.Tier.Postgres.Operator {
				return nil
			}
			n, ok := number(get(r.Props, "spec", "instances"))
			if ok && int(n) != env.Tier.Postgres.Instances {
				return []string{fmt.Sprintf("%v PostgreSQL instances; the %s tier runs %d", n, env.Tier.Name, env.Tier.Postgres.Instances)}
			}
			return nil
		},
	},
}
