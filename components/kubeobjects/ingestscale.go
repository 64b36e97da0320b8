package kubeobjects

import (
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/nanosiem/nano/stacks/model/tier"
)

// Ingest pods on a pool sized by daily volume (Enterprise's bands): each
// pod asks for ingestPodCPU cores (up to twice that) and a bounded memory
// (the service's queues bound it, not the volume); at least one pod per
// node, and a HorizontalPodAutoscaler on CPU adds pods up to what the pool's
// nodes hold (twice that where the pool is a floor, "12+", and grows).
const (
	ingestPodCPU       = 2
	ingestTargetCPUPct = 70
	// nodeReserveCPU is what a node keeps for the kubelet, the system and
	// the DaemonSets.
	nodeReserveCPU = 1
)

// IngestScale is the ingest workload a band's pool gets.
type IngestScale struct {
	MinReplicas, MaxReplicas int
	Resources                corev1.ResourceRequirements
}

// ingestScale sizes ingest for pool.
func ingestScale(pool tier.Pool) IngestScale {
	perNode := max((pool.Machine.CPU-nodeReserveCPU)/ingestPodCPU, 1)
	maxReplicas := pool.Nodes * perNode
	if pool.AtLeast {
		maxReplicas *= 2
	}
	return IngestScale{
		MinReplicas: pool.Nodes, MaxReplicas: maxReplicas,
		Resources: resources(fmt.Sprint(ingestPodCPU), "1Gi", fmt.Sprint(2*ingestPodCPU), "2Gi"),
	}
}

// ingestAutoscaler is ingest's HorizontalPodAutoscaler on CPU.
func ingestAutoscaler(sc IngestScale) Object {
	minReplicas := int32(sc.MinReplicas)
	target := int32(ingestTargetCPUPct)
	return typed("autoscaling/v2", "HorizontalPodAutoscaler", autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: meta("ingest", labels("ingest")),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "ingest"},
			MinReplicas:    &minReplicas, MaxReplicas: int32(sc.MaxReplicas),
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{
					Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target,
				}},
			}},
			// Scale down slowly: a burst's tail should not bounce pods.
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(300))},
			},
		},
	})
}
