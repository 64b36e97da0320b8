package components_test

import (
	"testing"

	"github.com/nanosiem/nano/components/kubeobjects"
)

// Pro has the seed's three pools on GKE and EKS: app 3 x 2/8 spot,
// ClickHouse 4 x 4/16 on-demand and tainted, ingest 3 x 2/8 spot; every
// node carries its pool label, and the workloads are pinned to them.
func TestMultiPoolClusterPools(t *testing.T) {
	t.Parallel()
	type pool struct {
		machine, nodes, spot, label, taint string
	}
	want := map[string]map[string]pool{
		"pro-gcp": {
			"app":        {"e2-standard-2", "3", "true", "app", ""},
			"clickhouse": {"e2-standard-4", "4", "false", "clickhouse", "clickhouse"},
			"ingest":     {"e2-standard-2", "3", "true", "ingest", ""},
		},
		"pro-aws": {
			"app":        {"m6i.large", "3", "SPOT", "app", ""},
			"clickhouse": {"m6i.xlarge", "4", "ON_DEMAND", "clickhouse", "clickhouse"},
			"ingest":     {"m6i.large", "3", "SPOT", "ingest", ""},
		},
	}
	for stack, pools := range want {
		t.Run(stack, func(t *testing.T) {
			r := &planResult{planStack(t, stack, nil)}
			r.one(t, "nano:index:MultiPoolCluster")
			for role, w := range pools {
				var got pool
				if stack == "pro-gcp" {
					np := byName(t, r.Result, "gcp:container/nodePool:NodePool", "-"+role)
					got = pool{text(prop(np, "nodeConfig", "machineType")), text(prop(np, "autoscaling", "totalMaxNodeCount")),
						text(prop(np, "nodeConfig", "spot")), text(prop(np, "nodeConfig", "labels", kubeobjects.PoolLabel)),
						text(prop(np, "nodeConfig", "taints", 0, "value"))}
					if got.taint != "" && text(prop(np, "nodeConfig", "taints", 0, "effect")) != "NO_SCHEDULE" {
						t.Errorf("%s taint is not NoSchedule", role)
					}
				} else {
					ng := byName(t, r.Result, "aws:eks/nodeGroup:NodeGroup", "-"+role)
					got = pool{text(prop(ng, "instanceTypes", 0)), text(prop(ng, "scalingConfig", "maxSize")),
						text(prop(ng, "capacityType")), text(prop(ng, "labels", kubeobjects.PoolLabel)), text(prop(ng, "taints", 0, "value"))}
				}
				if got != w {
					t.Errorf("%s pool %+v, want %+v", role, got, w)
				}
			}
			for _, d := range r.ByType("kubernetes:apps/v1:Deployment") {
				name := text(prop(d, "metadata", "name"))
				sel := text(prop(d, "spec", "template", "spec", "nodeSelector", kubeobjects.PoolLabel))
				wantPool := map[string]string{"api": "app", "search": "app", "web": "app", "ingest": "ingest", "prometheus": "app"}[name]
				if sel != wantPool {
					t.Errorf("deployment %s runs on pool %q, want %q", name, sel, wantPool)
				}
			}
			chi := r.one(t, "kubernetes:clickhouse.altinity.com/v1:ClickHouseInstallation")
			if text(prop(chi, "spec", "configuration", "clusters", 0, "layout", "shardsCount")) != "2" {
				t.Errorf("pro ClickHouse layout %v", prop(chi, "spec", "configuration", "clusters", 0, "layout").Mappable())
			}
		})
	}
}
