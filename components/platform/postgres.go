package platform

import (
	corev1 "k8s.io/api/core/v1"
)

// postgresStorageGB is each instance's volume: metadata (rules, alerts,
// users, history), not events, so it does not scale with log volume.
const postgresStorageGB = 20

// postgres returns the CloudNativePG Cluster: streaming replication and
// automatic failover come with instances > 1; with three instances one
// standby is synchronous, so a failover loses no committed transaction.
func (s Spec) postgres() []Object {
	n := s.Tier.Postgres.Instances
	nodeSelector, tolerations := s.placement("app")
	antiAffinity := "preferred"
	if s.Tier.HA {
		antiAffinity = "required"
	}
	affinity := map[string]any{
		"enablePodAntiAffinity": true,
		"podAntiAffinityType":   antiAffinity,
		"topologyKey":           "kubernetes.io/hostname",
	}
	if nodeSelector != nil {
		affinity["nodeSelector"] = toAny(nodeSelector)
	}
	if tolerations != nil {
		affinity["tolerations"] = typed("v1", "Pod", corev1.Pod{Spec: corev1.PodSpec{Tolerations: tolerations}})["spec"].(map[string]any)["tolerations"]
	}
	storage := map[string]any{"size": gi(postgresStorageGB)}
	if s.StorageClass != "" {
		storage["storageClass"] = s.StorageClass
	}
	res := typed("v1", "Pod", corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: resources("250m", "512Mi", "1", "1Gi")}}}})
	pg := map[string]any{
		"parameters": map[string]any{"max_connections": "200", "shared_buffers": "128MB"},
	}
	if n >= 3 {
		pg["synchronous"] = map[string]any{"method": "any", "number": 1}
	}
	return []Object{{
		"apiVersion": "postgresql.cnpg.io/v1",
		"kind":       "Cluster",
		"metadata":   map[string]any{"name": cnpgName, "namespace": Namespace, "labels": toAny(labels("postgres"))},
		"spec": map[string]any{
			"instances":             n,
			"imageName":             PostgresImage,
			"primaryUpdateStrategy": "unsupervised",
			"enableSuperuserAccess": false,
			"storage":               storage,
			"bootstrap":             map[string]any{"initdb": map[string]any{"database": "nano", "owner": "nano"}},
			"affinity":              affinity,
			"resources":             res["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["resources"],
			"postgresql":            pg,
		},
	}}
}
